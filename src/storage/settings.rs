//! Clinic settings: a small key/value table. Validation of each key's value lives
//! in [`crate::service::settings`].

use crate::storage::Conn;
use rusqlite::Connection;

use crate::domain::clinic::SettingsSource;

/// The domain reads the clinic's settings through any connection, or a
/// transaction, of this database.
impl SettingsSource for Conn<'_> {
    fn setting(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(get(self, key)?)
    }
}

impl SettingsSource for Connection {
    fn setting(&self, key: &str) -> crate::Result<Option<String>> {
        Conn::Lite(self).setting(key)
    }
}

impl SettingsSource for rusqlite::Transaction<'_> {
    fn setting(&self, key: &str) -> crate::Result<Option<String>> {
        Conn::Lite(self).setting(key)
    }
}

/// Reads one setting.
pub fn get(conn: &Conn, key: &str) -> rusqlite::Result<Option<String>> {
    conn.opt("SELECT value FROM setting WHERE key = ?1", &[&key], |r| {
        r.get(0)
    })
}

/// Writes one setting (insert or replace).
pub fn set(conn: &Conn, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.run(
        "INSERT INTO setting (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

/// Every setting, sorted by key.
pub fn all(conn: &Conn) -> rusqlite::Result<Vec<(String, String)>> {
    conn.all("SELECT key, value FROM setting ORDER BY key", &[], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}
