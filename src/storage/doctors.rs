//! Doctors.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::Doctor;

fn from_row(r: &Cols<'_>) -> rusqlite::Result<Doctor> {
    Ok(Doctor {
        id: r.get(0)?,
        name: r.get(1)?,
        specialty: r.get(2)?,
        active: r.get(3)?,
    })
}

/// Inserts a doctor; returns the new id.
pub fn insert(conn: &Conn, name: &str, specialty: &str, now: i64) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO doctor (name, specialty, created_at) VALUES (?1, ?2, ?3) RETURNING id",
        &[&name, &specialty, &now],
    )
}

/// One doctor.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<Doctor>> {
    conn.opt(
        "SELECT id, name, specialty, active FROM doctor WHERE id = ?1",
        &[&id],
        from_row,
    )
}

/// All doctors (or only active ones), by name.
pub fn list(conn: &Conn, include_inactive: bool) -> rusqlite::Result<Vec<Doctor>> {
    conn.all(
        "SELECT id, name, specialty, active FROM doctor WHERE ?1 OR active ORDER BY name, id",
        &[&include_inactive],
        from_row,
    )
}

/// Sets the active flag; returns whether a row changed.
pub fn set_active(conn: &Conn, id: i64, active: bool) -> rusqlite::Result<bool> {
    Ok(conn.run(
        "UPDATE doctor SET active = ?2 WHERE id = ?1 AND active <> ?2",
        &[&id, &active],
    )? > 0)
}
