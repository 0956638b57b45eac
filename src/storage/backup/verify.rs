//! What a restore checks before it touches anything: a backup is a file from
//! anywhere, so nothing in it is trusted.
//!
//! - it is an intact SQLite database whose schema — every table, index, trigger and
//!   view, with its SQL — is exactly what this build's migrations make for its
//!   version: an extra table, a trigger that copies patients elsewhere, an altered
//!   trigger or view is refused, named;
//! - not from a newer Frontdesk;
//! - its audit log's chain is intact and sealed with its clinic's key (which must be
//!   on this computer);
//! - whether Frontdesk wrote it: every backup and safety copy is recorded with its
//!   SHA-256 in the database it was taken from, so a file not recorded in the
//!   database it would replace is **foreign**;
//! - which staff accounts differ from the database it would replace (an extra
//!   admin, a role, a reactivated account).
//!
//! A foreign file or differing staff need the admin's explicit confirmation. Settings
//! that run a program or move data are never taken from a backup (see the restore).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

use super::integrity_problems;
use crate::domain::progress::{Phase, Progress};
use crate::error::{Error, Result};
use crate::storage::audit;
use crate::storage::audit_key::KeyFolder;
use crate::storage::cipher::FileKind;

/// What a verified backup holds, and what the admin must confirm.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct BackupCheck {
    /// The file checked.
    pub path: String,
    /// Its schema version (`PRAGMA user_version`).
    #[ts(type = "number")]
    pub schema_version: i64,
    /// Appointments in it.
    #[ts(type = "number")]
    pub appointments: i64,
    /// Patients in it.
    #[ts(type = "number")]
    pub patients: i64,
    /// Audit events in it (the chain was verified).
    #[ts(type = "number")]
    pub audit_events: i64,
    /// The newest audit event's time (Unix seconds), a hint of how recent it is.
    #[ts(type = "number | null")]
    pub last_change_at: Option<i64>,
    /// The file's SHA-256.
    pub sha256: String,
    /// Frontdesk did not write this file for the database it would replace.
    pub foreign: bool,
    /// Staff accounts that differ from the database it would replace, in words.
    pub staff_changes: Vec<String>,
}

impl BackupCheck {
    /// True when restoring needs the admin's explicit confirmation.
    pub fn needs_confirmation(&self) -> bool {
        self.foreign || !self.staff_changes.is_empty()
    }

    /// What the admin confirms, in sentences.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.foreign {
            w.push(
                "Frontdesk did not write this file for this database (it is not among the backups it recorded)"
                    .to_string(),
            );
        }
        w.extend(
            self.staff_changes
                .iter()
                .map(|c| format!("staff account {c}")),
        );
        w
    }
}

/// The SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    file_sha256_with(path, &mut crate::domain::progress::ignore)
}

/// [`file_sha256`], reporting the bytes read as [`Phase::Fingerprinting`].
pub fn file_sha256_with(path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<String> {
    let mut f = File::open(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut done = 0u64;
    progress(Progress::of(Phase::Fingerprinting, 0, total));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        done += n as u64;
        progress(Progress::of(Phase::Fingerprinting, done, total.max(done)));
    }
    if done != total {
        // a file that changed size while it was read ends at its real size
        progress(Progress::of(Phase::Fingerprinting, done, done));
    }
    Ok(hex::encode(h.finalize()))
}

/// The file's first bytes say it is a SQLite database (a cheap check before any
/// lock is taken; [`verify`] does the real one).
pub(super) fn sqlite_header(path: &Path, shown: &Path) -> Result<()> {
    let shown = shown.display();
    match crate::storage::cipher::file_kind(path) {
        Ok(FileKind::Plain) => Ok(()),
        // this computer has its key, or the admin is asked for the recovery key
        Ok(FileKind::Encrypted(_)) => crate::storage::cipher::key_of(path).map(|_| ()),
        Ok(FileKind::New) if !path.exists() => Err(Error::invalid(format!(
            "there is no backup file at {shown}"
        ))),
        Ok(FileKind::New | FileKind::NotADatabase) => Err(Error::invalid(format!(
            "{shown} is not a Frontdesk backup (it is not a SQLite database)"
        ))),
        Err(e) => Err(Error::invalid(format!(
            "{shown} cannot be read as a backup: {}",
            e.public_message()
        ))),
    }
}

/// True when `path` opens and its schema can be read (with its key, when encrypted).
pub(super) fn is_readable(path: &Path) -> bool {
    crate::storage::db::open_file(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?))
        .is_ok()
}

/// Verifies that `candidate` can replace the database at `current` (which may not
/// exist yet), with the keys in `keys`. Every refusal is a sentence for the admin.
pub fn verify(candidate: &Path, current: &Path, keys: &KeyFolder) -> Result<BackupCheck> {
    verify_as(candidate, candidate, current, keys)
}

/// [`verify`] of `path`, naming the file `shown` in messages (a restore verifies
/// its copy of the backup but talks about the backup).
pub(super) fn verify_as(
    path: &Path,
    shown: &Path,
    current: &Path,
    keys: &KeyFolder,
) -> Result<BackupCheck> {
    sqlite_header(path, shown)?;
    let name = shown.display();
    let damaged = |_: rusqlite::Error| {
        Error::invalid(format!(
            "the backup {name} is damaged (its integrity check failed) and cannot be restored; \
             choose an older backup. Nothing was changed."
        ))
    };
    let conn = crate::storage::db::open_file(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        Error::invalid(format!(
            "{name} cannot be opened as a backup: {}",
            e.public_message()
        ))
    })?;
    match integrity_problems(&conn) {
        Ok(p) if p.is_empty() => {}
        Ok(_) => return Err(damaged(rusqlite::Error::InvalidQuery)),
        Err(Error::Database(e)) => return Err(damaged(e)),
        Err(e) => return Err(e),
    }
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('setting', 'appointment', 'patient', 'audit_event')",
            [],
            |r| r.get(0),
        )
        .map_err(damaged)?;
    if tables != 4 {
        return Err(Error::invalid(format!(
            "{name} is a SQLite database but not a Frontdesk database"
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(damaged)?;
    let known = crate::storage::db::latest_schema_version() as i64;
    if version > known {
        return Err(Error::invalid(format!(
            "the backup {name} was written by a newer Frontdesk (schema version {version}; this app knows up to \
             {known}). Update Frontdesk before restoring it. Nothing was changed."
        )));
    }
    let differences = crate::storage::db::schema_differences(&conn)?;
    if !differences.is_empty() {
        return Err(Error::invalid(format!(
            "the backup {name} has a schema Frontdesk did not make ({}); it will not be restored. Nothing was changed.",
            differences.join(", ")
        )));
    }
    let clinic: Option<String> = if version >= 7 {
        crate::storage::settings::get(&crate::storage::Conn::Lite(&conn), "clinic.id")
            .map_err(damaged)?
    } else {
        None
    };
    let key = match &clinic {
        Some(id) => match keys.load(id)? {
            Some(key) => Some(key),
            // a new computer: an encrypted backup carries its clinic's key (a plain
            // file could carry any key at all)
            None if matches!(
                crate::storage::cipher::file_kind(path)?,
                FileKind::Encrypted(_)
            ) =>
            {
                crate::storage::audit_key::escrowed(&conn)?
            }
            None => None,
        },
        None => None,
    };
    match audit::verify_chain(&crate::storage::Conn::Lite(&conn), key.as_ref(), None).map_err(damaged)? {
        None => {}
        Some(audit::ChainFault::KeyMissing) => {
            return Err(Error::invalid(format!(
                "the audit log of {name} is sealed with its clinic's key, which is not on this computer ({}). Copy \
                 the key folder from the computer the backup comes from, then restore again. Nothing was changed.",
                keys.key_path(clinic.as_deref().unwrap_or_default()).display()
            )))
        }
        Some(fault) => {
            return Err(Error::invalid(format!(
                "the backup {name} has an altered audit log ({fault}); it will not be restored. Nothing was changed."
            )))
        }
    }
    let count = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(damaged)
    };
    // the file the admin chose (a restore checks its copy, which may have been
    // taken out of WAL mode or encrypted on the way)
    let sha256 = file_sha256(shown)?;
    let (foreign, staff_changes) = compare_with_current(&conn, current, &sha256)?;
    Ok(BackupCheck {
        path: name.to_string(),
        schema_version: version,
        appointments: count("SELECT count(*) FROM appointment")?,
        patients: count("SELECT count(*) FROM patient")?,
        audit_events: count("SELECT count(*) FROM audit_event")?,
        last_change_at: conn
            .query_row("SELECT max(at) FROM audit_event", [], |r| r.get(0))
            .map_err(damaged)?,
        sha256,
        foreign,
        staff_changes,
    })
}

/// (username, role, active) of every staff account.
fn staff(conn: &Connection) -> rusqlite::Result<Vec<(String, String, bool)>> {
    let mut stmt = conn.prepare("SELECT username, role, active FROM staff ORDER BY username")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Whether the backup is foreign to the database at `current`, and how their staff
/// accounts differ.
fn compare_with_current(
    backup: &Connection,
    current: &Path,
    sha256: &str,
) -> Result<(bool, Vec<String>)> {
    let theirs = staff(backup)?;
    let current = match current.exists() {
        true => Some(crate::storage::db::open_file(
            current,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?),
        false => None,
    };
    let Some(current) = current else {
        return Ok((true, Vec::new()));
    };
    let recorded: Option<i64> = current
        .query_row(
            "SELECT id FROM backup_run WHERE sha256 = ?1 LIMIT 1",
            [sha256],
            |r| r.get(0),
        )
        .optional()
        .or_else(|e| match e {
            // a database from before backups were fingerprinted
            rusqlite::Error::SqliteFailure(..) => Ok(None),
            other => Err(other),
        })?;
    let ours = staff(&current)?;
    let mut changes = Vec::new();
    for (user, role, active) in &theirs {
        match ours.iter().find(|(u, _, _)| u == user) {
            None => changes.push(format!(
                "{user} ({}{}) exists only in the backup",
                role.to_lowercase(),
                if *active { "" } else { ", deactivated" }
            )),
            Some((_, now_role, now_active)) => {
                if now_role != role {
                    changes.push(format!(
                        "{user} is {} in the backup but {} now",
                        role.to_lowercase(),
                        now_role.to_lowercase()
                    ));
                }
                if now_active != active {
                    changes.push(format!(
                        "{user} is {} in the backup but {} now",
                        if *active { "active" } else { "deactivated" },
                        if *now_active { "active" } else { "deactivated" }
                    ));
                }
            }
        }
    }
    for (user, _, _) in &ours {
        if !theirs.iter().any(|(u, _, _)| u == user) {
            changes.push(format!("{user} exists now but not in the backup"));
        }
    }
    Ok((recorded.is_none(), changes))
}
