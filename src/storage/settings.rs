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

/// Reads several settings in one query, in the order of `keys`.
pub fn get_many<const N: usize>(
    conn: &Conn,
    keys: [&str; N],
) -> rusqlite::Result<[Option<String>; N]> {
    let marks: Vec<String> = (1..=N).map(|i| format!("?{i}")).collect();
    let params: Vec<&dyn crate::storage::sql::Param> = keys
        .iter()
        .map(|k| k as &dyn crate::storage::sql::Param)
        .collect();
    let found = conn.all(
        &format!(
            "SELECT key, value FROM setting WHERE key IN ({})",
            marks.join(", ")
        ),
        &params,
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    Ok(keys.map(|k| {
        found
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    }))
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
