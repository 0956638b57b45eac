//! Staff accounts: usernames, roles, argon2id password hashes, the failed sign-in
//! count with its lock, the "must change password" flag and the session
//! generation; and the same failure count for usernames that have no account
//! (`sign_in_throttle`), so both are answered alike.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::Role;
use crate::domain::staff::{Failures, StaffMember};

/// The columns sign-in needs, including the hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub member: StaffMember,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Raised whenever the account's open sessions must end.
    pub session_generation: i64,
}

const COLUMNS: &str = "id, username, display_name, role, active, failed_logins, last_failed_at, \
     locked_at, must_change_password, password_hash, session_generation";

fn from_row(r: &Cols<'_>) -> rusqlite::Result<Credentials> {
    Ok(Credentials {
        member: StaffMember {
            id: r.get(0)?,
            username: r.get(1)?,
            display_name: r.get(2)?,
            role: r.parse(3)?,
            active: r.get(4)?,
            failed_logins: r.get(5)?,
            last_failed_at: r.get(6)?,
            locked_at: r.get(7)?,
            must_change_password: r.get(8)?,
        },
        password_hash: r.get(9)?,
        session_generation: r.get(10)?,
    })
}

/// How many accounts exist (active or not).
pub fn count(conn: &Conn) -> rusqlite::Result<i64> {
    conn.value("SELECT count(*) FROM staff", &[])
}

/// Active admins.
pub fn active_admins(conn: &Conn) -> rusqlite::Result<i64> {
    conn.value(
        "SELECT count(*) FROM staff WHERE role = 'ADMIN' AND active",
        &[],
    )
}

/// Inserts an account; returns the id. Failures counted under its username while
/// it had no account are forgotten.
pub fn insert(
    conn: &Conn,
    username: &str,
    display_name: &str,
    role: Role,
    hash: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    let id = conn.value(
        "INSERT INTO staff (username, display_name, role, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        &[&username, &display_name, &role.as_str(), &hash, &now],
    )?;
    conn.run(
        "DELETE FROM sign_in_throttle WHERE username = lower(?1)",
        &[&username],
    )?;
    Ok(id)
}

/// One account by id.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<Credentials>> {
    conn.opt(
        &format!("SELECT {COLUMNS} FROM staff WHERE id = ?1"),
        &[&id],
        from_row,
    )
}

/// One account by username (case-insensitive).
pub fn by_username(conn: &Conn, username: &str) -> rusqlite::Result<Option<Credentials>> {
    conn.opt(
        &format!("SELECT {COLUMNS} FROM staff WHERE lower(username) = lower(?1)"),
        &[&username],
        from_row,
    )
}

/// Every account, by username.
pub fn list(conn: &Conn) -> rusqlite::Result<Vec<StaffMember>> {
    conn.all(
        &format!("SELECT {COLUMNS} FROM staff ORDER BY lower(username)"),
        &[],
        |r| from_row(r).map(|c| c.member),
    )
}

/// Reserves a failed attempt on an account before its password is checked:
/// `count` failures, the newest now. A success takes it back ([`record_success`]).
pub fn reserve_attempt(conn: &Conn, id: i64, count: i64, now: i64) -> rusqlite::Result<()> {
    conn.run(
        "UPDATE staff SET failed_logins = ?2, last_failed_at = ?3 WHERE id = ?1",
        &[&id, &count, &now],
    )?;
    Ok(())
}

/// Locks the account if its failures reached `limit`; returns whether it locked
/// it now.
pub fn lock_if_exhausted(conn: &Conn, id: i64, limit: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE staff SET locked_at = ?3
         WHERE id = ?1 AND failed_logins >= ?2 AND locked_at IS NULL",
        &[&id, &limit, &now],
    )?;
    Ok(n > 0)
}

/// A successful sign-in: the failure count goes back to 0 and, when given,
/// `upgrade` — a stronger hash — replaces the stored one, but only if the stored
/// hash is still `verified`, the one the password was checked against (a password
/// reset meanwhile stays). Returns whether the hash was replaced.
pub fn record_success(
    conn: &Conn,
    id: i64,
    verified: &str,
    upgrade: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    conn.run(
        "UPDATE staff SET failed_logins = 0, last_failed_at = NULL, locked_at = NULL WHERE id = ?1",
        &[&id],
    )?;
    let Some(upgrade) = upgrade else {
        return Ok(false);
    };
    let n = conn.run(
        "UPDATE staff SET password_hash = ?3, updated_at = ?4 WHERE id = ?1 AND password_hash = ?2",
        &[&id, &verified, &upgrade, &now],
    )?;
    Ok(n > 0)
}

/// The person's own new password, replacing `verified` (the hash their current
/// password was checked against) only if it is still the stored one: clears the
/// failures, the lock and "must change", and ends their other sessions. Returns
/// the account as the change left it (with its new session generation), or
/// `None` when the password changed meanwhile.
pub fn change_own_password(
    conn: &Conn,
    id: i64,
    verified: &str,
    hash: &str,
    now: i64,
) -> rusqlite::Result<Option<Credentials>> {
    conn.opt(
        &format!(
            "UPDATE staff SET password_hash = ?3, must_change_password = FALSE, failed_logins = 0,
                    last_failed_at = NULL, locked_at = NULL,
                    session_generation = session_generation + 1, updated_at = ?4
             WHERE id = ?1 AND password_hash = ?2
             RETURNING {COLUMNS}"
        ),
        &[&id, &verified, &hash, &now],
        from_row,
    )
}

/// An admin's reset: a new hash the person must replace at their next sign-in;
/// clears any lock and ends their open sessions. Returns whether the account exists.
pub fn reset_password(conn: &Conn, id: i64, hash: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE staff SET password_hash = ?2, must_change_password = TRUE, failed_logins = 0,
                last_failed_at = NULL, locked_at = NULL,
                session_generation = session_generation + 1, updated_at = ?3
         WHERE id = ?1",
        &[&id, &hash, &now],
    )?;
    Ok(n > 0)
}

/// Activates or deactivates an account; either way its open sessions end.
pub fn set_active(conn: &Conn, id: i64, active: bool, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE staff SET active = ?2, session_generation = session_generation + 1,
                updated_at = ?3
         WHERE id = ?1",
        &[&id, &active, &now],
    )?;
    Ok(n > 0)
}

/// Changes an account's role and ends its open sessions.
pub fn set_role(conn: &Conn, id: i64, role: Role, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE staff SET role = ?2, session_generation = session_generation + 1,
                updated_at = ?3
         WHERE id = ?1",
        &[&id, &role.as_str(), &now],
    )?;
    Ok(n > 0)
}

/// Lifts a sign-in lock and forgets the failures; returns whether the account exists.
pub fn unlock(conn: &Conn, id: i64, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE staff SET failed_logins = 0, last_failed_at = NULL, locked_at = NULL,
                updated_at = ?2
         WHERE id = ?1",
        &[&id, &now],
    )?;
    Ok(n > 0)
}

/// The failures counted under a username that has no account.
pub fn unknown_failures(conn: &Conn, username: &str) -> rusqlite::Result<Failures> {
    Ok(conn
        .opt(
            "SELECT failed_logins, last_failed_at, locked_at FROM sign_in_throttle
             WHERE username = lower(?1)",
            &[&username],
            |r| {
                Ok(Failures {
                    count: r.get(0)?,
                    last_at: r.get(1)?,
                    locked_at: r.get(2)?,
                })
            },
        )?
        .unwrap_or_default())
}

/// Reserves a failed attempt under a username that has no account (as
/// [`reserve_attempt`] does for an account). Kept in lower case, so that one
/// name in any case is one row on both backends.
pub fn reserve_unknown_attempt(
    conn: &Conn,
    username: &str,
    count: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.run(
        "INSERT INTO sign_in_throttle (username, failed_logins, last_failed_at)
         VALUES (lower(?1), ?2, ?3)
         ON CONFLICT (username) DO UPDATE SET failed_logins = ?2, last_failed_at = ?3",
        &[&username, &count, &now],
    )?;
    Ok(())
}

/// Locks a username that has no account once its failures reached `limit`;
/// returns whether it locked it now.
pub fn lock_unknown_if_exhausted(
    conn: &Conn,
    username: &str,
    limit: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE sign_in_throttle SET locked_at = ?3
         WHERE username = lower(?1) AND failed_logins >= ?2 AND locked_at IS NULL",
        &[&username, &limit, &now],
    )?;
    Ok(n > 0)
}

/// Forgets the unlocked failures of unknown usernames whose newest failure is
/// older than `before`.
pub fn prune_unknown(conn: &Conn, before: i64) -> rusqlite::Result<usize> {
    conn.run(
        "DELETE FROM sign_in_throttle WHERE locked_at IS NULL AND last_failed_at < ?1",
        &[&before],
    )
}
