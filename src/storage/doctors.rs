//! Doctors.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::model::Doctor;

fn from_row(r: &Row<'_>) -> rusqlite::Result<Doctor> {
    Ok(Doctor {
        id: r.get(0)?,
        name: r.get(1)?,
        specialty: r.get(2)?,
        active: r.get(3)?,
    })
}

/// Inserts a doctor; returns the new id.
pub fn insert(conn: &Connection, name: &str, specialty: &str, now: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO doctor (name, specialty, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![name, specialty, now])?;
    Ok(conn.last_insert_rowid())
}

/// One doctor.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Doctor>> {
    conn.prepare_cached("SELECT id, name, specialty, active FROM doctor WHERE id = ?1")?
        .query_row([id], from_row)
        .optional()
}

/// All doctors (or only active ones), by name.
pub fn list(conn: &Connection, include_inactive: bool) -> rusqlite::Result<Vec<Doctor>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, specialty, active FROM doctor WHERE ?1 OR active = 1 ORDER BY name, id",
    )?;
    let rows = stmt.query_map([include_inactive], from_row)?;
    rows.collect()
}

/// Sets the active flag; returns whether a row changed.
pub fn set_active(conn: &Connection, id: i64, active: bool) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE doctor SET active = ?2 WHERE id = ?1 AND active <> ?2")?
        .execute(params![id, active])?
        > 0)
}
