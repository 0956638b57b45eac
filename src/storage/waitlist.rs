//! The waitlist: patients waiting for a doctor, oldest first.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::planner::Minute;
use crate::domain::scheduling::{TimeRange, WaitlistEntry, WaitlistFilter, WaitlistStatus};

const SELECT: &str = "SELECT w.id, w.patient_id, p.name, w.doctor_id, w.from_date, w.to_date, w.start_minute, w.end_minute,
        w.note, w.status, w.appointment_id, w.created_by, w.created_at
    FROM waitlist_entry w JOIN patient p ON p.id = w.patient_id";

fn from_row(r: &Cols<'_>) -> rusqlite::Result<WaitlistEntry> {
    let s: Option<Minute> = r.get(6)?;
    let e: Option<Minute> = r.get(7)?;
    let status: String = r.get(9)?;
    Ok(WaitlistEntry {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        patient_name: r.get(2)?,
        doctor_id: r.get(3)?,
        from_date: r.get(4)?,
        to_date: r.get(5)?,
        hours: s.zip(e).map(|(s, e)| TimeRange::from_minutes(s, e)),
        note: r.get(8)?,
        status: WaitlistStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(9, "status".into(), rusqlite::types::Type::Text)
        })?,
        appointment_id: r.get(10)?,
        created_by: r.get(11)?,
        created_at: r.get(12)?,
    })
}

/// A new waitlist row.
pub struct NewEntryRow<'a> {
    /// Patient.
    pub patient_id: i64,
    /// Doctor.
    pub doctor_id: i64,
    /// Earliest day `YYYY-MM-DD`.
    pub from_date: Option<&'a str>,
    /// Latest day.
    pub to_date: Option<&'a str>,
    /// Time of day.
    pub hours: Option<(Minute, Minute)>,
    /// Note.
    pub note: &'a str,
}

/// Inserts an open entry; returns its id.
pub fn insert(conn: &Conn, e: &NewEntryRow<'_>, actor: &str, now: i64) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO waitlist_entry (patient_id, doctor_id, from_date, to_date, start_minute, end_minute, note, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id", &[&e.patient_id, &e.doctor_id, &e.from_date, &e.to_date, &e.hours.map(|h| h.0), &e.hours.map(|h| h.1), &e.note, &actor, &now])
}

/// One entry.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<WaitlistEntry>> {
    conn.opt(&format!("{SELECT} WHERE w.id = ?1"), &[&id], from_row)
}

/// Entries by queue order (oldest first).
pub fn list(conn: &Conn, f: &WaitlistFilter) -> rusqlite::Result<Vec<WaitlistEntry>> {
    conn.all(&format!(
        "{SELECT} WHERE (?1 IS NULL OR w.doctor_id = ?1) AND (?2 IS NULL OR w.patient_id = ?2) AND (?3 OR w.status = 'OPEN')
         ORDER BY w.created_at, w.id"
    ), &[&f.doctor_id, &f.patient_id, &f.include_closed], from_row)
}

/// Closes an open entry as booked or removed; returns whether it was still open.
pub fn close(
    conn: &Conn,
    id: i64,
    status: WaitlistStatus,
    appointment_id: Option<i64>,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(conn.run(
        "UPDATE waitlist_entry SET status = ?2, appointment_id = ?3, closed_by = ?4, closed_at = ?5
             WHERE id = ?1 AND status = 'OPEN'",
        &[&id, &status.as_str(), &appointment_id, &actor, &now],
    )? > 0)
}
