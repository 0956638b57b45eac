//! Clinic settings: a small key/value table. Validation of each key's value lives
//! in [`crate::service::settings`].

use rusqlite::{params, Connection, OptionalExtension};

use crate::domain::clinic::SettingsSource;

/// The domain reads the clinic's settings through any connection, or a
/// transaction, of this database.
impl SettingsSource for Connection {
    fn setting(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(get(self, key)?)
    }
}

impl SettingsSource for rusqlite::Transaction<'_> {
    fn setting(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(get(self, key)?)
    }
}

/// Reads one setting.
pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM setting WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Writes one setting (insert or replace).
pub fn set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO setting (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Every setting, sorted by key.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM setting ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
