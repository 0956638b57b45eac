//! Slots, and the live appointments that occupy them.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::{AppointmentSummary, Slot, SlotView};
use crate::domain::scheduling::SlotFilter;

const COLUMNS: &str = "s.id, s.doctor_id, s.start_at, s.end_at, s.mode, s.blocked";

pub(crate) fn from_row(r: &Cols<'_>) -> rusqlite::Result<Slot> {
    Ok(Slot {
        id: r.get(0)?,
        doctor_id: r.get(1)?,
        start_at: r.get(2)?,
        end_at: r.get(3)?,
        mode: r.parse(4)?,
        blocked: r.get(5)?,
    })
}

/// One slot.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<Slot>> {
    conn.opt(
        &format!("SELECT {COLUMNS} FROM slot s WHERE s.id = ?1"),
        &[&id],
        from_row,
    )
}

/// The first slot of `doctor_id` overlapping `[start, end)`, other than `except`.
pub fn overlapping(
    conn: &Conn,
    doctor_id: i64,
    start: i64,
    end: i64,
    except: Option<i64>,
) -> rusqlite::Result<Option<i64>> {
    // Slots are at most a day long (a CHECK enforces it), which bounds the range scan.
    conn.opt(
        "SELECT id FROM slot WHERE doctor_id = ?1 AND start_at < ?3 AND end_at > ?2
           AND start_at > ?2 - 86400 AND (?4 IS NULL OR id <> ?4) LIMIT 1",
        &[&doctor_id, &start, &end, &except],
        |r| r.get(0),
    )
}

/// Inserts a slot; returns its id.
pub fn insert(
    conn: &Conn,
    doctor_id: i64,
    start: i64,
    end: i64,
    mode: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO slot (doctor_id, start_at, end_at, mode, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        &[&doctor_id, &start, &end, &mode, &now],
    )
}

/// Sets the blocked flag; returns whether it changed.
pub fn set_blocked(conn: &Conn, id: i64, blocked: bool) -> rusqlite::Result<bool> {
    Ok(conn.run(
        "UPDATE slot SET blocked = ?2 WHERE id = ?1 AND blocked <> ?2",
        &[&id, &blocked],
    )? > 0)
}

/// Whether the slot has a live ordinary (not overbooked) appointment.
pub fn is_taken(conn: &Conn, slot_id: i64) -> rusqlite::Result<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM appointment WHERE slot_id = ?1 AND status <> 'CANCELLED' AND NOT overbooked)",
        &[&slot_id],
    )
}

/// Whether any appointment not cancelled is in the slot, overbooked ones included
/// (a slot with any of them cannot be blocked).
pub fn has_appointment(conn: &Conn, slot_id: i64) -> rusqlite::Result<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM appointment WHERE slot_id = ?1 AND status <> 'CANCELLED')",
        &[&slot_id],
    )
}

/// Slots starting in `[from, to)` with their live appointments, by start then doctor.
pub fn list_with_appointments(conn: &Conn, f: &SlotFilter) -> rusqlite::Result<Vec<SlotView>> {
    let rows = conn.all(
        &format!(
            "SELECT {COLUMNS}, a.id, a.patient_id, p.name, a.status, a.overbooked, a.version
             FROM slot s
             LEFT JOIN appointment a ON a.slot_id = s.id AND a.status <> 'CANCELLED'
             LEFT JOIN patient p ON p.id = a.patient_id
             WHERE s.start_at >= ?1 AND s.start_at < ?2 AND (?3 IS NULL OR s.doctor_id = ?3)
             ORDER BY s.start_at, s.doctor_id, s.id, a.overbooked, a.id"
        ),
        &[&f.from, &f.to, &f.doctor_id],
        |r| {
            let appointment = match r.get::<Option<i64>>(6)? {
                None => None,
                Some(id) => Some(AppointmentSummary {
                    id,
                    patient_id: r.get(7)?,
                    patient_name: r.get(8)?,
                    status: r.parse(9)?,
                    overbooked: r.get(10)?,
                    version: r.get(11)?,
                }),
            };
            Ok((from_row(r)?, appointment))
        },
    )?;
    let mut out: Vec<SlotView> = Vec::new();
    for (slot, appointment) in rows {
        if out.last().map(|v| v.slot.id) != Some(slot.id) {
            out.push(SlotView {
                slot,
                appointments: Vec::new(),
            });
        }
        if let Some(a) = appointment {
            out.last_mut().expect("pushed above").appointments.push(a);
        }
    }
    if f.free_only {
        out.retain(SlotView::is_free);
    }
    Ok(out)
}
