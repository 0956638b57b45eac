//! Staff accounts: usernames, roles, argon2id password hashes, and the failed
//! sign-in counter with its lock.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use ts_rs::TS;

use crate::model::Role;

/// A staff account as admins see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct StaffMember {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Sign-in name (case-insensitive).
    pub username: String,
    /// Name shown in the app and the audit log.
    pub display_name: String,
    /// Admin or receptionist.
    pub role: Role,
    /// Deactivated accounts cannot sign in.
    pub active: bool,
    /// Consecutive failed sign-ins.
    pub failed_logins: i64,
    /// Locked until (Unix seconds), after too many failed sign-ins.
    #[ts(type = "number | null")]
    pub locked_until: Option<i64>,
}

/// The columns sign-in needs, including the hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub member: StaffMember,
    /// argon2id PHC string.
    pub password_hash: String,
}

const COLUMNS: &str =
    "id, username, display_name, role, active, failed_logins, locked_until, password_hash";

fn role(s: String) -> rusqlite::Result<Role> {
    s.parse().map_err(|_| {
        rusqlite::Error::InvalidColumnType(3, "role".into(), rusqlite::types::Type::Text)
    })
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Credentials> {
    Ok(Credentials {
        member: StaffMember {
            id: r.get(0)?,
            username: r.get(1)?,
            display_name: r.get(2)?,
            role: role(r.get(3)?)?,
            active: r.get(4)?,
            failed_logins: r.get(5)?,
            locked_until: r.get(6)?,
        },
        password_hash: r.get(7)?,
    })
}

/// How many accounts exist (active or not).
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM staff")?
        .query_row([], |r| r.get(0))
}

/// Active admins.
pub fn active_admins(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM staff WHERE role = 'ADMIN' AND active = 1")?
        .query_row([], |r| r.get(0))
}

/// Inserts an account; returns the id.
pub fn insert(
    conn: &Connection,
    username: &str,
    display_name: &str,
    role: Role,
    hash: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO staff (username, display_name, role, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![username, display_name, role.as_str(), hash, now])?;
    Ok(conn.last_insert_rowid())
}

/// One account by id.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Credentials>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM staff WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// One account by username (case-insensitive).
pub fn by_username(conn: &Connection, username: &str) -> rusqlite::Result<Option<Credentials>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM staff WHERE username = ?1"))?
        .query_row([username], from_row)
        .optional()
}

/// Every account, by username.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<StaffMember>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM staff ORDER BY username"))?;
    let rows = stmt.query_map([], |r| from_row(r).map(|c| c.member))?;
    rows.collect()
}

/// Reserves one failed attempt (`failed_logins + 1`) unless the account is locked
/// at `now`; returns whether it did. The reservation is taken back by
/// [`record_success`] when the password turns out right.
pub fn reserve_attempt(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE staff SET failed_logins = failed_logins + 1, locked_until = NULL
             WHERE id = ?1 AND failed_logins < 5 AND (locked_until IS NULL OR locked_until <= ?2)",
        )?
        .execute(params![id, now])?;
    Ok(n > 0)
}

/// Clears an expired lock (failed_logins back to 0); returns whether there was one.
pub fn clear_expired_lock(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE id = ?1 AND locked_until IS NOT NULL AND locked_until <= ?2",
        )?
        .execute(params![id, now])?;
    Ok(n > 0)
}

/// Locks the account until `until` if its failures reached `limit`; returns
/// whether it locked it now.
pub fn lock_if_exhausted(
    conn: &Connection,
    id: i64,
    limit: i64,
    until: i64,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("UPDATE staff SET locked_until = ?3 WHERE id = ?1 AND failed_logins >= ?2 AND locked_until IS NULL")?
        .execute(params![id, limit, until])?;
    Ok(n > 0)
}

/// A successful sign-in: the failure count goes back to 0 and, when given,
/// `upgrade` — a stronger hash — replaces the stored one, but only if the stored
/// hash is still `verified`, the one the password was checked against (a password
/// reset meanwhile stays). Returns whether the hash was replaced.
pub fn record_success(
    conn: &Connection,
    id: i64,
    verified: &str,
    upgrade: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    conn.prepare_cached("UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE id = ?1")?
        .execute([id])?;
    let Some(upgrade) = upgrade else {
        return Ok(false);
    };
    let n = conn
        .prepare_cached(
            "UPDATE staff SET password_hash = ?3, updated_at = ?4 WHERE id = ?1 AND password_hash = ?2",
        )?
        .execute(params![id, verified, upgrade, now])?;
    Ok(n > 0)
}

/// Sets a new password hash and clears any lock.
pub fn set_password(conn: &Connection, id: i64, hash: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE staff SET password_hash = ?2, failed_logins = 0, locked_until = NULL, updated_at = ?3 WHERE id = ?1",
        )?
        .execute(params![id, hash, now])?;
    Ok(n > 0)
}

/// Activates or deactivates an account.
pub fn set_active(conn: &Connection, id: i64, active: bool, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("UPDATE staff SET active = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, active, now])?;
    Ok(n > 0)
}

/// Changes an account's role.
pub fn set_role(conn: &Connection, id: i64, role: Role, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("UPDATE staff SET role = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, role.as_str(), now])?;
    Ok(n > 0)
}

/// Lifts a sign-in lock and forgets the failures; returns whether the account exists.
pub fn unlock(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("UPDATE staff SET failed_logins = 0, locked_until = NULL, updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(n > 0)
}
