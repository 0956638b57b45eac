//! Patients: registration, search by name (FTS5 word prefixes) or phone prefix,
//! and edits guarded by a version number.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::Patient;

const COLUMNS: &str =
    "id, name, phone, phone_verified_at, phone_verified_by, date_of_birth, notes, version, reminders_opt_out, alert";

fn from_row(r: &Cols<'_>) -> rusqlite::Result<Patient> {
    Ok(Patient {
        id: r.get(0)?,
        name: r.get(1)?,
        phone: r.get(2)?,
        phone_verified_at: r.get(3)?,
        phone_verified_by: r.get(4)?,
        date_of_birth: r.get(5)?,
        notes: r.get(6)?,
        version: r.get(7)?,
        reminders_opt_out: r.get(8)?,
        alert: r.get(9)?,
    })
}

/// Inserts a patient; returns the id.
pub fn insert(
    conn: &Conn,
    name: &str,
    phone: &str,
    dob: Option<&str>,
    notes: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO patient (name, phone, date_of_birth, notes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        &[&name, &phone, &dob, &notes, &now],
    )
}

/// One patient.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<Patient>> {
    conn.opt(
        &format!("SELECT {COLUMNS} FROM patient WHERE id = ?1"),
        &[&id],
        from_row,
    )
}

/// Patients sharing this phone number (a family may share one).
pub fn with_phone(conn: &Conn, phone: &str) -> rusqlite::Result<Vec<Patient>> {
    conn.all(
        &format!("SELECT {COLUMNS} FROM patient WHERE phone = ?1 ORDER BY id"),
        &[&phone],
        from_row,
    )
}

/// Patients by name.
pub fn list(conn: &Conn, limit: u32) -> rusqlite::Result<Vec<Patient>> {
    conn.all(
        &format!("SELECT {COLUMNS} FROM patient ORDER BY name, id LIMIT ?1"),
        &[&i64::from(limit)],
        from_row,
    )
}

/// Patients whose phone starts with an E.164 prefix.
pub fn search_phone_prefix(
    conn: &Conn,
    prefix: &str,
    limit: u32,
) -> rusqlite::Result<Vec<Patient>> {
    // a range on the indexed column instead of LIKE, which would not use the
    // index (phones are '+' and digits: '+123' ≤ phone < '+123:' is the prefix)
    let upper = format!("{prefix}:");
    conn.all(
        &format!(
            "SELECT {COLUMNS} FROM patient WHERE phone >= ?1 AND phone < ?2 ORDER BY phone, id LIMIT ?3"
        ),
        &[&prefix, &upper, &i64::from(limit)],
        from_row,
    )
}

/// Patients whose name has words starting with every word of `text`. On the
/// file through its word index (FTS5, diacritics folded: "gar" finds "García");
/// on the server by a case-insensitive match at the start of a word.
pub fn search_name(conn: &Conn, text: &str, limit: u32) -> rusqlite::Result<Vec<Patient>> {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if let Conn::Server(_) = conn {
        // the words are letters and digits only: nothing in them is regex syntax
        let each: Vec<String> = words
            .iter()
            .map(|w| format!("(^|[^[:alnum:]]){}", w.to_lowercase()))
            .collect();
        let test = (1..=each.len())
            .map(|i| format!("lower(name) ~ ?{i}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let limit = i64::from(limit);
        let mut params: Vec<&dyn crate::storage::sql::Param> = each
            .iter()
            .map(|p| p as &dyn crate::storage::sql::Param)
            .collect();
        params.push(&limit);
        return conn.all(
            &format!(
                "SELECT {COLUMNS} FROM patient WHERE {test} ORDER BY name, id LIMIT ?{}",
                each.len() + 1
            ),
            &params,
            from_row,
        );
    }
    // No `ORDER BY rank`: ranking must score every match before the LIMIT applies,
    // and a short prefix ("mar") matches thousands of names at 100,000 patients
    // (8.6 ms against 0.09 ms without, measured by `frontdesk bench`). For word
    // prefixes bm25 barely tells names apart anyway; the desk types more to narrow.
    conn.all(
        &format!(
            "SELECT {COLUMNS} FROM patient WHERE id IN
               (SELECT rowid FROM patient_name_fts WHERE patient_name_fts MATCH ?1 LIMIT ?2)
             ORDER BY name, id"
        ),
        &[&fts_prefix_query(text), &i64::from(limit)],
        from_row,
    )
}

/// Builds an FTS5 query matching word prefixes, quoting every term so nothing the
/// user types is read as FTS syntax.
fn fts_prefix_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies an edit if the stored version is still `expected_version`; returns
/// whether it did.
#[allow(clippy::too_many_arguments)]
pub fn update(
    conn: &Conn,
    id: i64,
    expected_version: i64,
    name: &str,
    phone: &str,
    dob: Option<&str>,
    notes: &str,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    // a new number is no longer verified
    let n = conn.run(
        "UPDATE patient SET name = ?3, phone = ?4, date_of_birth = ?5, notes = ?6, updated_at = ?7,
             phone_verified_at = CASE WHEN phone = ?4 THEN phone_verified_at END,
             phone_verified_by = CASE WHEN phone = ?4 THEN phone_verified_by END,
             updated_by = ?8, version = version + 1
         WHERE id = ?1 AND version = ?2",
        &[
            &id,
            &expected_version,
            &name,
            &phone,
            &dob,
            &notes,
            &now,
            &actor,
        ],
    )?;
    Ok(n > 0)
}

/// Sets the patient's alert (in the transaction of the insert or edit it belongs
/// to: the version is not bumped again).
pub fn set_alert(conn: &Conn, id: i64, alert: &str) -> rusqlite::Result<()> {
    conn.run(
        "UPDATE patient SET alert = ?2 WHERE id = ?1",
        &[&id, &alert],
    )?;
    Ok(())
}

/// Who changed the record last and when (an empty name: nobody since registration).
pub fn last_change(conn: &Conn, id: i64) -> rusqlite::Result<Option<(String, i64)>> {
    conn.opt(
        "SELECT updated_by, updated_at FROM patient WHERE id = ?1",
        &[&id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Marks every patient with this phone as verified; returns how many.
pub fn mark_phone_verified(conn: &Conn, phone: &str, at: i64, by: &str) -> rusqlite::Result<usize> {
    conn.run(
        "UPDATE patient SET phone_verified_at = ?2, phone_verified_by = ?3, version = version + 1,
             updated_at = ?2, updated_by = ?3 WHERE phone = ?1",
        &[&phone, &at, &by],
    )
}

/// Sets whether the patient gets appointment reminders (a change of the record:
/// new version); returns whether the patient exists.
pub fn set_reminders_opt_out(
    conn: &Conn,
    id: i64,
    opt_out: bool,
    by: &str,
    at: i64,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE patient SET reminders_opt_out = ?2, version = version + 1, updated_at = ?4, updated_by = ?3
         WHERE id = ?1",
        &[&id, &opt_out, &by, &at],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fts_queries_quote_every_word() {
        assert_eq!(super::fts_prefix_query("maria gar"), "\"maria\"* \"gar\"*");
        assert_eq!(super::fts_prefix_query("\" OR x*"), "\"OR\"* \"x\"*");
        assert_eq!(super::fts_prefix_query("  "), "");
    }
}
