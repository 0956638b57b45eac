//! Slots as slot generation sees them: with the template that made them and whether
//! anything (live or cancelled) refers to them.

use crate::storage::Conn;

use crate::domain::planner::{ExistingSlot, PlannedSlot};

/// Slots of every doctor (or one) starting in `[from, to)`, with their booking state.
pub fn existing(
    conn: &Conn,
    from: i64,
    to: i64,
    doctor_id: Option<i64>,
) -> rusqlite::Result<Vec<ExistingSlot>> {
    conn.all("SELECT s.id, s.doctor_id, s.start_at, s.end_at, s.template_id, s.blocked,
                EXISTS (SELECT 1 FROM appointment a WHERE a.slot_id = s.id AND a.status <> 'CANCELLED'),
                EXISTS (SELECT 1 FROM appointment a WHERE a.slot_id = s.id)
         FROM slot s WHERE s.start_at >= ?1 AND s.start_at < ?2 AND (?3 IS NULL OR s.doctor_id = ?3)", &[&from, &to, &doctor_id], |r| {
        Ok(ExistingSlot {
            id: r.get(0)?,
            doctor_id: r.get(1)?,
            start_at: r.get(2)?,
            end_at: r.get(3)?,
            template_id: r.get(4)?,
            blocked: r.get(5)?,
            booked: r.get(6)?,
            has_history: r.get(7)?,
        })
    })
}

/// Inserts a generated slot; returns its id. The overlap trigger still guards it.
pub fn insert(conn: &Conn, p: &PlannedSlot, now: i64) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO slot (doctor_id, start_at, end_at, mode, created_at, template_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id", &[&p.doctor_id, &p.start_at, &p.end_at, &p.mode.as_str(), &now, &p.template_id])
}

/// Deletes a slot only if nothing refers to it; returns whether it did.
pub fn delete_unreferenced(conn: &Conn, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.run("DELETE FROM slot WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM appointment WHERE slot_id = ?1)", &[&id])?
        > 0)
}

/// Blocks a slot only if it has no live appointment; returns whether it did.
pub fn block_if_free(conn: &Conn, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.run("UPDATE slot SET blocked = TRUE WHERE id = ?1 AND NOT blocked
               AND NOT EXISTS (SELECT 1 FROM appointment WHERE slot_id = ?1 AND status <> 'CANCELLED')", &[&id])?
        > 0)
}
