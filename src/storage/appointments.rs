//! Appointments and their status history.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::AppointmentFilter;
use crate::domain::model::{Appointment, AppointmentStatus, HistoryEntry, NextAppointment};

const SELECT: &str = "SELECT a.id, a.slot_id, a.doctor_id, d.name, a.patient_id, p.name, p.phone, s.start_at, s.end_at,
        a.status, a.reason, a.cancel_reason, a.overbooked, a.version, a.created_by, a.created_at, a.updated_by, a.updated_at, p.alert
    FROM appointment a
    JOIN slot s ON s.id = a.slot_id
    JOIN doctor d ON d.id = a.doctor_id
    JOIN patient p ON p.id = a.patient_id";

pub(crate) fn from_row(r: &Cols<'_>) -> rusqlite::Result<Appointment> {
    Ok(Appointment {
        id: r.get(0)?,
        slot_id: r.get(1)?,
        doctor_id: r.get(2)?,
        doctor_name: r.get(3)?,
        patient_id: r.get(4)?,
        patient_name: r.get(5)?,
        patient_phone: r.get(6)?,
        start_at: r.get(7)?,
        end_at: r.get(8)?,
        status: r.parse::<AppointmentStatus>(9)?,
        reason: r.get(10)?,
        cancel_reason: r.get(11)?,
        overbooked: r.get(12)?,
        version: r.get(13)?,
        created_by: r.get(14)?,
        created_at: r.get(15)?,
        updated_by: r.get(16)?,
        updated_at: r.get(17)?,
        patient_alert: r.get(18)?,
    })
}

/// A new appointment row.
pub struct NewAppointment<'a> {
    /// Slot.
    pub slot_id: i64,
    /// The slot's doctor.
    pub doctor_id: i64,
    /// Patient.
    pub patient_id: i64,
    /// Reason for the visit.
    pub reason: &'a str,
    /// Deliberate squeeze-in by an admin.
    pub overbooked: bool,
    /// Who books.
    pub actor: &'a str,
    /// When.
    pub now: i64,
}

/// Inserts a PENDING appointment and its first history entry; returns the id.
/// A second live ordinary appointment on the slot fails on the unique index.
pub fn insert(conn: &Conn, a: &NewAppointment<'_>) -> rusqlite::Result<i64> {
    let id = conn.value(
        "INSERT INTO appointment (slot_id, doctor_id, patient_id, status, reason, overbooked, created_by, created_at, updated_by, updated_at)
         VALUES (?1, ?2, ?3, 'PENDING', ?4, ?5, ?6, ?7, ?6, ?7) RETURNING id",
        &[&a.slot_id, &a.doctor_id, &a.patient_id, &a.reason, &a.overbooked, &a.actor, &a.now],
    )?;
    add_history(
        conn,
        id,
        None,
        AppointmentStatus::Pending,
        None,
        Some(a.slot_id),
        "",
        a.actor,
        a.now,
    )?;
    Ok(id)
}

/// Appends a history entry.
#[allow(clippy::too_many_arguments)]
pub fn add_history(
    conn: &Conn,
    appointment_id: i64,
    from: Option<AppointmentStatus>,
    to: AppointmentStatus,
    from_slot: Option<i64>,
    to_slot: Option<i64>,
    note: &str,
    actor: &str,
    at: i64,
) -> rusqlite::Result<()> {
    conn.run(
        "INSERT INTO appointment_status_history (appointment_id, from_status, to_status, from_slot_id, to_slot_id, note, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[&appointment_id, &from.map(|s| s.as_str()), &to.as_str(), &from_slot, &to_slot, &note, &actor, &at],
    )?;
    Ok(())
}

/// One appointment with names and times.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<Appointment>> {
    conn.opt(&format!("{SELECT} WHERE a.id = ?1"), &[&id], from_row)
}

/// Changes status if the version still matches; returns whether it did.
pub fn set_status(
    conn: &Conn,
    id: i64,
    expected_version: i64,
    to: AppointmentStatus,
    cancel_reason: Option<&str>,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE appointment SET status = ?3, cancel_reason = coalesce(?4, cancel_reason), updated_by = ?5, updated_at = ?6,
             version = version + 1
         WHERE id = ?1 AND version = ?2",
        &[&id, &expected_version, &to.as_str(), &cancel_reason, &actor, &now],
    )?;
    Ok(n > 0)
}

/// Moves an appointment to another (free) slot if the version still matches; there
/// it is an ordinary booking, so an overbooked one loses its flag.
pub fn move_to_slot(
    conn: &Conn,
    id: i64,
    expected_version: i64,
    slot_id: i64,
    doctor_id: i64,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE appointment SET slot_id = ?3, doctor_id = ?4, overbooked = FALSE, updated_by = ?5, updated_at = ?6, version = version + 1
         WHERE id = ?1 AND version = ?2",
        &[&id, &expected_version, &slot_id, &doctor_id, &actor, &now],
    )?;
    Ok(n > 0)
}

/// The history of one appointment, oldest first.
pub fn history(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Vec<HistoryEntry>> {
    conn.all(
        "SELECT from_status, to_status, from_slot_id, to_slot_id, note, actor, at
         FROM appointment_status_history WHERE appointment_id = ?1 ORDER BY id",
        &[&appointment_id],
        |r| {
            let from: Option<String> = r.get(0)?;
            Ok(HistoryEntry {
                from_status: match from {
                    Some(_) => Some(r.parse::<AppointmentStatus>(0)?),
                    None => None,
                },
                to_status: r.parse::<AppointmentStatus>(1)?,
                from_slot_id: r.get(2)?,
                to_slot_id: r.get(3)?,
                note: r.get(4)?,
                actor: r.get(5)?,
                at: r.get(6)?,
            })
        },
    )
}

/// Appointments by slot start.
pub fn list(conn: &Conn, f: &AppointmentFilter) -> rusqlite::Result<Vec<Appointment>> {
    conn.all(
        &format!(
            "{SELECT} WHERE (?1 IS NULL OR s.start_at >= ?1) AND (?2 IS NULL OR s.start_at < ?2)
               AND (?3 IS NULL OR a.doctor_id = ?3) AND (?4 IS NULL OR a.patient_id = ?4) AND (?5 IS NULL OR a.status = ?5)
             ORDER BY s.start_at, a.doctor_id, a.id LIMIT ?6"
        ),
        &[
            &f.from,
            &f.to,
            &f.doctor_id,
            &f.patient_id,
            &f.status.map(|s| s.as_str()),
            &i64::from(f.limit.unwrap_or(500)),
        ],
        from_row,
    )
}

/// Puts an undone change's status back if the version still matches: an undo of a
/// cancellation also clears its reason. Returns whether it did; a second live
/// ordinary appointment on the slot fails on the unique index.
pub fn restore_status(
    conn: &Conn,
    id: i64,
    expected_version: i64,
    to: AppointmentStatus,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE appointment SET status = ?3,
             cancel_reason = CASE WHEN ?3 = 'CANCELLED' THEN cancel_reason ELSE NULL END,
             updated_by = ?4, updated_at = ?5, version = version + 1
         WHERE id = ?1 AND version = ?2",
        &[&id, &expected_version, &to.as_str(), &actor, &now],
    )?;
    Ok(n > 0)
}

/// How many ledger rows an appointment has written at or after `since`.
pub fn ledger_rows_since(conn: &Conn, id: i64, since: i64) -> rusqlite::Result<i64> {
    conn.value(
        "SELECT count(*) FROM ledger WHERE appointment_id = ?1 AND created_at >= ?2",
        &[&id, &since],
    )
}

/// A patient's next open (pending or confirmed) appointment from `now`, if any:
/// what the search results show to tell two patients of one name apart.
pub fn next_open_of(
    conn: &Conn,
    patient_id: i64,
    now: i64,
) -> crate::Result<Option<NextAppointment>> {
    let row = conn.opt(
        "SELECT a.id, s.start_at, d.name, a.status FROM appointment a
           JOIN slot s ON s.id = a.slot_id JOIN doctor d ON d.id = a.doctor_id
          WHERE a.patient_id = ?1 AND s.start_at >= ?2 AND a.status IN ('PENDING', 'CONFIRMED')
          ORDER BY s.start_at, a.id LIMIT 1",
        &[&patient_id, &now],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<i64>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
            ))
        },
    )?;
    row.map(|(appointment_id, start_at, doctor_name, status)| {
        Ok(NextAppointment {
            patient_id,
            appointment_id,
            start_at,
            doctor_name,
            status: status.parse()?,
        })
    })
    .transpose()
}

/// Whether a rusqlite error is the unique index refusing a second live appointment.
pub fn is_double_booking(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, Some(msg))
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && msg.contains("appointment.slot_id"))
}
