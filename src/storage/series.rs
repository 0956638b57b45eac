//! Recurring series of appointments, and the attendance counts per patient.

use crate::storage::Conn;

use crate::domain::model::Slot;

/// Inserts a series; returns its id.
pub fn insert(
    conn: &Conn,
    patient_id: i64,
    doctor_id: i64,
    every_weeks: u32,
    actor: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO appointment_series (patient_id, doctor_id, every_weeks, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id", &[&patient_id, &doctor_id, &every_weeks, &actor, &now])
}

/// Puts an appointment into a series.
pub fn set_series(conn: &Conn, appointment_id: i64, series_id: i64) -> rusqlite::Result<()> {
    conn.run(
        "UPDATE appointment SET series_id = ?2 WHERE id = ?1",
        &[&appointment_id, &series_id],
    )?;
    Ok(())
}

/// The series of an appointment, if any.
pub fn series_of(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .opt(
            "SELECT series_id FROM appointment WHERE id = ?1",
            &[&appointment_id],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten())
}

/// Appointment ids of a series whose slot starts at or after `from`, by start.
pub fn members_from(conn: &Conn, series_id: i64, from: i64) -> rusqlite::Result<Vec<i64>> {
    conn.all(
        "SELECT a.id FROM appointment a JOIN slot s ON s.id = a.slot_id
         WHERE a.series_id = ?1 AND s.start_at >= ?2 ORDER BY s.start_at, a.id",
        &[&series_id, &from],
        |r| r.get(0),
    )
}

/// The doctor's slot starting exactly at `start_at` and lasting `length` seconds.
pub fn slot_at(
    conn: &Conn,
    doctor_id: i64,
    start_at: i64,
    length: i64,
) -> rusqlite::Result<Option<Slot>> {
    conn.opt(
        "SELECT s.id, s.doctor_id, s.start_at, s.end_at, s.mode, s.blocked FROM slot s
         WHERE s.doctor_id = ?1 AND s.start_at = ?2 AND s.end_at = ?2 + ?3",
        &[&doctor_id, &start_at, &length],
        crate::storage::slots::from_row,
    )
}

/// Late cancellations (cancelled less than `late_secs` before the slot's start, or
/// after it) and no-shows of a patient, computed from the status history, so no
/// stored flag can drift from it.
pub fn attendance(conn: &Conn, patient_id: i64, late_secs: i64) -> rusqlite::Result<(u32, u32)> {
    conn.one("SELECT
           (SELECT count(*) FROM appointment a JOIN slot s ON s.id = a.slot_id
             WHERE a.patient_id = ?1 AND a.status = 'CANCELLED'
               AND (SELECT max(h.at) FROM appointment_status_history h
                     WHERE h.appointment_id = a.id AND h.to_status = 'CANCELLED') > s.start_at - ?2),
           (SELECT count(*) FROM appointment WHERE patient_id = ?1 AND status = 'NO_SHOW')", &[&patient_id, &late_secs], |r| Ok((r.get(0)?, r.get(1)?)))
}
