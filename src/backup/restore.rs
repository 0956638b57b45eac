//! Restore swaps a verified backup in for the database file, and never leaves a
//! half-restored file, whenever the process is killed:
//! 1. take the database for this process alone (the exclusive presence lock,
//!    see [`crate::presence`]) or refuse, naming the desks to close;
//! 2. copy the candidate next to the database (`<db>.restoring`), fsync it, and
//!    verify the copy — the bytes that will be swapped in: integrity check, a
//!    Frontdesk database, schema version not newer than this build, the audit
//!    chain intact; a refusal removes the copy and leaves the database untouched;
//! 3. make sure no other connection of any program has the file open: no process
//!    holds the database or its `-wal` open (Linux: `/proc/*/fd`, which also sees a
//!    connection that has not read anything yet), and SQLite agrees to switch the
//!    file out of WAL mode — which it refuses while any other connection that has
//!    read from it is open, whatever program it belongs to. Otherwise the restore
//!    refuses and changes nothing;
//! 4. write a safety copy of the current database into the backup folder (the
//!    backup API), then, holding SQLite's exclusive lock (`locking_mode=EXCLUSIVE`),
//!    switch it to `journal_mode=DELETE`: SQLite checkpoints the log into the main
//!    file and removes it. The old file is now a rollback-journal database, so a
//!    straggler that opened it meanwhile cannot write into it after the swap
//!    (SQLite refuses to write to a file that was moved away);
//! 5. `rename` the verified copy over the database (atomic), fsync the folder, then
//!    let go of the old file.
//!
//! Killed before step 5, the old database is complete (its log was checkpointed);
//! killed after, the new one is. An audit row `backup.restore` is then added to
//! the restored database. The database path is resolved first, so a restore
//! through a symlink replaces the real file and keeps the link.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use ts_rs::TS;

use super::{integrity_problems, sync_dir, utc, write_backup, NAME_TIME, SAFETY_PREFIX, SUFFIX};
use crate::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::settings;
use crate::store::audit;

/// What a verified backup holds.
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
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct RestoreReport {
    /// The backup now in place.
    pub restored: BackupCheck,
    /// The database file that was replaced.
    pub database: String,
    /// The safety copy of the replaced database, if there was one.
    pub safety_copy: Option<String>,
    /// How long the restore took (milliseconds).
    #[ts(type = "number")]
    pub millis: u64,
}

/// Verifies that `path` is a Frontdesk backup this build can restore: opens it
/// read-only, `integrity_check`, a Frontdesk schema not newer than this build, an
/// intact audit chain. Every refusal is a sentence for the admin.
pub fn verify(path: &Path) -> Result<BackupCheck> {
    verify_as(path, path)
}

/// The file's first bytes say it is a SQLite database (a cheap check before any
/// lock is taken; [`verify`] does the real one).
fn sqlite_header(path: &Path, shown: &Path) -> Result<()> {
    let shown = shown.display();
    let mut header = [0u8; 16];
    let readable = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if let Err(e) = readable {
        return Err(if e.kind() == std::io::ErrorKind::NotFound {
            Error::invalid(format!("there is no backup file at {shown}"))
        } else {
            Error::invalid(format!("{shown} cannot be read as a backup: {e}"))
        });
    }
    if &header != b"SQLite format 3\0" {
        return Err(Error::invalid(format!(
            "{shown} is not a Frontdesk backup (it is not a SQLite database)"
        )));
    }
    Ok(())
}

/// [`verify`] of `path`, naming the file `shown` in messages (a restore verifies
/// its copy of the backup but talks about the backup).
fn verify_as(path: &Path, shown: &Path) -> Result<BackupCheck> {
    sqlite_header(path, shown)?;
    let shown = shown.display();
    let damaged = |_: rusqlite::Error| {
        Error::invalid(format!(
            "the backup {shown} is damaged (its integrity check failed) and cannot be restored; \
             choose an older backup. Nothing was changed."
        ))
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::invalid(format!("{shown} cannot be opened as a backup: {e}")))?;
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
            "{shown} is a SQLite database but not a Frontdesk database"
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(damaged)?;
    let known = crate::db::latest_schema_version() as i64;
    if version > known {
        return Err(Error::invalid(format!(
            "the backup {shown} was written by a newer Frontdesk (schema version {version}; this app knows up to \
             {known}). Update Frontdesk before restoring it. Nothing was changed."
        )));
    }
    if let Some(row) = audit::first_broken_link(&conn).map_err(damaged)? {
        return Err(Error::invalid(format!(
            "the backup {shown} has an altered audit log (the hash chain breaks at event {row}); it will not be \
             restored. Nothing was changed."
        )));
    }
    let count = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(damaged)
    };
    Ok(BackupCheck {
        path: shown.to_string(),
        schema_version: version,
        appointments: count("SELECT count(*) FROM appointment")?,
        patients: count("SELECT count(*) FROM patient")?,
        audit_events: count("SELECT count(*) FROM audit_event")?,
        last_change_at: conn
            .query_row("SELECT max(at) FROM audit_event", [], |r| r.get(0))
            .map_err(damaged)?,
    })
}

/// Restores the backup `candidate` over the database at `db` (see the module docs
/// for the steps and why a kill at any moment leaves a whole database). No
/// [`crate::Frontdesk`] may be open on `db`, in this process or another: drop yours
/// first and reopen afterwards. `now` stamps the safety copy and the audit row.
pub fn restore(actor: &Actor, db: &Path, candidate: &Path, now: i64) -> Result<RestoreReport> {
    actor.require(Action::ManageBackups)?;
    let started = Instant::now();
    // cheap checks first; the full verification runs on the copy that is swapped
    // in (one integrity check of a large file takes seconds)
    sqlite_header(candidate, candidate)?;
    // the real file, whatever the spelling (restoring onto a new computer: this
    // also creates the app-data folder)
    let db = &crate::db::resolve_path(db)?;
    let _alone = crate::presence::hold_exclusive(db)?;
    refuse_other_programs(db)?;

    let restoring = crate::db::sibling(db, ".restoring");
    let _ = std::fs::remove_file(&restoring); // left by a killed restore
    let outcome = prepare_copy(candidate, &restoring).and_then(|check| {
        let retired = if db.exists() {
            Some(retire_current(db, now)?)
        } else {
            None
        };
        std::fs::rename(&restoring, db).map_err(|e| {
            Error::Internal(format!("cannot move the restored database into place: {e}"))
        })?;
        sync_dir(db.parent().unwrap_or(Path::new("/")));
        // only now let go of the old file (see step 4)
        let safety = retired.map(|(safety, old)| {
            drop(old);
            safety
        });
        Ok((check, safety))
    });
    let (mut check, safety) = match outcome {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&restoring);
            return Err(e);
        }
    };
    check.path = candidate.display().to_string();
    let detail = candidate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    record_restore(db, actor, now, &detail)?;
    tracing::info!(
        millis = started.elapsed().as_millis() as u64,
        "database restored from a backup"
    );
    Ok(RestoreReport {
        restored: check,
        database: db.display().to_string(),
        safety_copy: safety.map(|p| p.display().to_string()),
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Copies the candidate to `to`, marks the copy as a rollback-journal database (a
/// file copied from a live WAL database carries the WAL flag; it has no `-wal` of
/// its own here), fsyncs, and verifies the copy.
fn prepare_copy(candidate: &Path, to: &Path) -> Result<BackupCheck> {
    std::fs::copy(candidate, to)
        .map_err(|e| Error::invalid(format!("cannot copy the backup next to the database: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(to)
        .map_err(|e| Error::Internal(format!("cannot open the copied backup: {e}")))?;
    let mut flags = [0u8; 2];
    f.seek(SeekFrom::Start(18))
        .and_then(|_| f.read_exact(&mut flags))
        .map_err(|e| Error::Internal(e.to_string()))?;
    if flags == [2, 2] {
        // header bytes 18-19: file format write/read version, 2 = WAL, 1 = rollback journal
        f.seek(SeekFrom::Start(18))
            .and_then(|_| f.write_all(&[1, 1]))
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    f.sync_all()
        .map_err(|e| Error::Internal(format!("cannot flush the copied backup: {e}")))?;
    drop(f);
    verify_as(to, candidate)
}

/// The refusal when another program has the database open.
fn in_use(by: &str) -> Error {
    Error::invalid(format!(
        "another program still has the database open{by}. Close it — for example a sqlite3 shell, a Frontdesk \
         of an older version, or a second Frontdesk started from another folder — and restore again; nothing was changed."
    ))
}

/// Refuses when any process (this one included) has the database or its log open.
fn refuse_other_programs(db: &Path) -> Result<()> {
    let wal = crate::db::sibling(db, "-wal");
    let holders = crate::platform::processes_with_open(&[db, &wal]);
    if holders.is_empty() {
        return Ok(());
    }
    Err(in_use(&format!(" ({})", holders.join(", "))))
}

/// Takes the safety copy of the current database, then takes the file for this
/// connection alone and out of WAL mode (see step 4 in the module docs), and
/// removes the `-shm`. Returns the safety copy's path and the connection, which
/// holds SQLite's exclusive lock on the old file until it is dropped.
fn retire_current(db: &Path, now: i64) -> Result<(PathBuf, Connection)> {
    let conn = crate::db::open_connection(db, Duration::from_secs(1))?;
    let folder = settings::backup_folder(&conn, db);
    let name = format!("{SAFETY_PREFIX}{}{SUFFIX}", utc(now).format(NAME_TIME));
    let safety = folder.join(name);
    write_backup(&conn, &safety).map_err(|e| {
        Error::invalid(format!(
            "could not keep a safety copy of the current database in {} ({}); nothing was changed",
            folder.display(),
            e.public_message()
        ))
    })?;
    // keep every lock this connection takes until it is closed
    let _: String = conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))?;
    // SQLite leaves WAL mode only when no other connection has the file open (it
    // needs the exclusive lock that every connection's shared WAL lock blocks); on
    // the way out it checkpoints the log into the main file and deletes it
    let mode = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0))
        .map_err(|e| {
            if crate::error::is_busy(&e) {
                in_use("")
            } else {
                Error::from(e)
            }
        })?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(in_use(""));
    }
    for stale in [
        crate::db::sibling(db, "-wal"),
        crate::db::sibling(db, "-shm"),
    ] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Internal(format!(
                    "cannot remove {}: {e}",
                    stale.display()
                )))
            }
        }
    }
    Ok((safety, conn))
}

/// Adds the `backup.restore` audit row to the restored database.
fn record_restore(db: &Path, actor: &Actor, now: i64, detail: &str) -> Result<()> {
    let mut conn = crate::db::open_connection(db, Duration::from_secs(10))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    audit::record(
        &tx,
        now,
        &actor.label(),
        "backup.restore",
        "database",
        None,
        detail,
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's own test, without the operating system's list of open files: a
    /// connection of another program that has read the file and sits idle keeps
    /// the restore from retiring the database, and keeps working.
    #[test]
    fn the_database_is_not_retired_while_another_connection_that_has_read_it_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.sqlite3");
        drop(crate::Frontdesk::open_default(&db).unwrap());
        let other = Connection::open(&db).unwrap();
        other
            .query_row("SELECT count(*) FROM patient", [], |_| Ok(()))
            .unwrap();
        let refused = retire_current(&db, 0).expect_err("refused while another connection is open");
        assert!(
            refused.to_string().contains("still has the database open"),
            "says another program has it open: {refused}"
        );
        other
            .execute(
                "INSERT INTO patient (name, phone, created_at, updated_at) VALUES ('P', '+4915123456789', 0, 0)",
                [],
            )
            .expect("the other program keeps writing");
        drop(other);
        let (_, held) = retire_current(&db, 0).expect("retired once nobody else has it open");
        drop(held);
        let mode: String = Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "the retired file is out of WAL mode");
        assert!(
            !crate::db::sibling(&db, "-wal").exists(),
            "its log was checkpointed and removed"
        );
    }
}
