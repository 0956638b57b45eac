//! Backups and restores of the clinic database file.
//!
//! **Backups** use SQLite's online backup API from a read connection: one backup
//! step copies every page inside one read transaction, so the copy is a consistent
//! snapshot while the desks keep booking (WAL readers never block the writer). A
//! file copy of a live WAL database is never made: it can miss committed pages that
//! still sit in the `-wal` file, or catch the file mid-checkpoint. Each backup is
//! written under a temporary name in the destination folder, switched to
//! rollback-journal mode (a backup is one self-contained file), checked with
//! `PRAGMA integrity_check`, fsynced, and only then renamed to
//! `frontdesk-YYYYMMDD-HHMMSS.sqlite3` (UTC). A crash leaves at worst a
//! `.partial` file, which the next backup removes.
//!
//! **Retention** keeps every backup of the last 24 hours, the newest backup of each
//! of the newest `keep_daily` days and of each of the newest `keep_weekly` ISO weeks
//! (UTC), and deletes the others.
//!
//! **Restore** swaps a verified backup in for the database file, and never leaves a
//! half-restored file, whenever the process is killed:
//! 1. take the database for this process alone (the exclusive presence lock,
//!    see [`crate::presence`]) or refuse, naming the desks to close;
//! 2. copy the candidate next to the database (`<db>.restoring`), fsync it, and
//!    verify the copy — the bytes that will be swapped in: integrity check, a
//!    Frontdesk database, schema version not newer than this build, the audit
//!    chain intact; a refusal removes the copy and leaves the database untouched;
//! 3. write a safety copy of the current database into the backup folder (the
//!    backup API again), checkpoint its write-ahead log into the main file and close
//!    it; a `-wal` that is still not empty then means a program that is not Frontdesk
//!    has the file open, and the restore stops. The empty `-wal` and the `-shm` are
//!    removed, so no stale log can ever be applied to the restored file;
//! 4. `rename` the verified copy over the database (atomic) and fsync the folder.
//!
//! Killed before step 4, the old database is complete (its log was checkpointed);
//! killed after, the new one is. An audit row `backup.restore` is then added to
//! the restored database.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDateTime};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use ts_rs::TS;

use crate::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::settings;
use crate::store::audit;

/// Backup files are `frontdesk-YYYYMMDD-HHMMSS.sqlite3` (UTC).
const PREFIX: &str = "frontdesk-";
/// Safety copies taken by a restore: `frontdesk-before-restore-YYYYMMDD-HHMMSS.sqlite3`.
const SAFETY_PREFIX: &str = "frontdesk-before-restore-";
const SUFFIX: &str = ".sqlite3";
const PARTIAL: &str = ".partial";
const NAME_TIME: &str = "%Y%m%d-%H%M%S";
/// How long a backup step may keep meeting a lock before the backup gives up.
const BACKUP_LOCK_DEADLINE: Duration = Duration::from_secs(60);

/// One backup file.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct BackupFile {
    /// File name, e.g. `frontdesk-20300107-080000.sqlite3`.
    pub name: String,
    /// Full path.
    pub path: String,
    /// When it was taken (Unix seconds UTC, from the name).
    #[ts(type = "number")]
    pub taken_at: i64,
    /// Size in bytes.
    #[ts(type = "number")]
    pub bytes: u64,
    /// A safety copy a restore took of the database it replaced (never pruned).
    pub safety_copy: bool,
}

/// How many backups retention keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Retention {
    /// The newest backup of each of this many newest days.
    pub keep_daily: u32,
    /// The newest backup of each of this many newest ISO weeks.
    pub keep_weekly: u32,
}

/// What a finished backup wrote.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct BackupResult {
    /// The backup file.
    pub file: BackupFile,
    /// How long writing and checking took (milliseconds).
    #[ts(type = "number")]
    pub millis: u64,
    /// Older backups deleted by retention.
    pub pruned: Vec<String>,
}

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

/// The file name of a backup taken at `at` (UTC).
pub fn file_name(at: i64) -> String {
    format!("{PREFIX}{}{SUFFIX}", utc(at).format(NAME_TIME))
}

fn utc(at: i64) -> NaiveDateTime {
    DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// The time a backup file name says it was taken, and whether it is a safety copy.
pub fn parse_file_name(name: &str) -> Option<(i64, bool)> {
    let (stamp, safety) = match name.strip_prefix(SAFETY_PREFIX) {
        Some(rest) => (rest, true),
        None => (name.strip_prefix(PREFIX)?, false),
    };
    let stamp = stamp.strip_suffix(SUFFIX)?;
    // a second backup within one second gets `-2`, `-3`… after the time
    let stamp = stamp.get(..15)?;
    let at = NaiveDateTime::parse_from_str(stamp, NAME_TIME)
        .ok()?
        .and_utc()
        .timestamp();
    Some((at, safety))
}

/// The backups in `folder`, newest first (nothing when the folder does not exist).
pub fn list_folder(folder: &Path) -> Result<Vec<BackupFile>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::invalid(format!(
                "cannot read the backup folder {}: {e}",
                folder.display()
            )))
        }
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((taken_at, safety_copy)) = parse_file_name(&name) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            found.push(BackupFile {
                path: entry.path().display().to_string(),
                name,
                taken_at,
                bytes: meta.len(),
                safety_copy,
            });
        }
    }
    found.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    Ok(found)
}

/// The backups retention deletes from `backups` (safety copies are never deleted).
pub fn to_prune(backups: &[BackupFile], keep: Retention) -> Vec<&BackupFile> {
    let mut regular: Vec<&BackupFile> = backups.iter().filter(|b| !b.safety_copy).collect();
    regular.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    let mut pruned = Vec::new();
    let newest = regular.first().map(|b| b.taken_at).unwrap_or_default();
    for b in regular {
        let date = utc(b.taken_at).date();
        let week = (date.iso_week().year(), date.iso_week().week());
        // a backup taken by hand before a risky change survives the automatic one
        // taken after it: everything from the last day is kept
        let mut kept = newest - b.taken_at < 86_400;
        if !days.contains(&date) && days.len() < keep.keep_daily as usize {
            days.push(date);
            kept = true;
        }
        if !weeks.contains(&week) && weeks.len() < keep.keep_weekly as usize {
            weeks.push(week);
            kept = true;
        }
        if !kept {
            pruned.push(b);
        }
    }
    pruned
}

/// Deletes what retention does not keep, and `.partial` files older than an hour
/// (left by a crashed backup). Returns the names deleted.
pub fn prune(folder: &Path, keep: Retention) -> Result<Vec<String>> {
    let backups = list_folder(folder)?;
    let mut deleted = Vec::new();
    for b in to_prune(&backups, keep) {
        match std::fs::remove_file(&b.path) {
            Ok(()) => deleted.push(b.name.clone()),
            Err(e) => tracing::warn!(error = %e, "could not delete an old backup"),
        }
    }
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if stale && entry.file_name().to_string_lossy().ends_with(PARTIAL) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(deleted)
}

/// The file a new backup taken at `at` goes to in `folder` (a second backup in the
/// same second gets a `-2`, `-3`… suffix).
pub fn next_path(folder: &Path, at: i64) -> PathBuf {
    let first = folder.join(file_name(at));
    if !first.exists() {
        return first;
    }
    let stem = file_name(at).trim_end_matches(SUFFIX).to_string();
    (2..)
        .map(|n| folder.join(format!("{stem}-{n}{SUFFIX}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Writes a consistent copy of the database `src` is connected to at `dest`:
/// backup API into a temporary file beside `dest`, rollback-journal mode,
/// `integrity_check`, fsync, rename. Returns the size in bytes.
pub fn write_backup(src: &Connection, dest: &Path) -> Result<u64> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::invalid(format!(
            "cannot create the backup folder {}: {e}",
            dir.display()
        ))
    })?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = dir.join(format!(".{name}.{}{PARTIAL}", std::process::id()));
    let outcome = copy_checked(src, &partial).and_then(|()| {
        std::fs::rename(&partial, dest).map_err(|e| {
            Error::invalid(format!("cannot write the backup {}: {e}", dest.display()))
        })?;
        sync_dir(dir);
        Ok(std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0))
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// Backup API from `src` into a new file at `to`, then journal mode, check, fsync.
fn copy_checked(src: &Connection, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    let mut dst = Connection::open(to).map_err(|e| {
        Error::invalid(format!(
            "cannot create the backup file {}: {e}",
            to.display()
        ))
    })?;
    {
        let backup = Backup::new(src, &mut dst)?;
        let deadline = Instant::now() + BACKUP_LOCK_DEADLINE;
        // -1: every page in one step, inside one read transaction on the source —
        // a consistent snapshot that concurrent commits cannot restart
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return Err(Error::Busy),
            }
        }
    }
    // the copy carries the source's WAL flag; a backup is better as one file
    let mode: String = dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Internal(format!(
            "backup stayed in journal mode {mode}"
        )));
    }
    let problems = integrity_problems(&dst)?;
    if !problems.is_empty() {
        return Err(Error::Internal(format!(
            "the new backup failed its integrity check: {}",
            problems.join("; ")
        )));
    }
    dst.close().map_err(|(_, e)| Error::from(e))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::Internal(format!("cannot flush the backup: {e}")))?;
    Ok(())
}

fn integrity_problems(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// fsyncs a folder so a rename in it survives a power cut.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
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

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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
    let _alone = crate::presence::hold_exclusive(db)?;

    let restoring = sibling(db, ".restoring");
    let _ = std::fs::remove_file(&restoring); // left by a killed restore
    let outcome = prepare_copy(candidate, &restoring).and_then(|check| {
        let safety = if db.exists() {
            Some(retire_current(db, now)?)
        } else {
            None
        };
        std::fs::rename(&restoring, db).map_err(|e| {
            Error::Internal(format!("cannot move the restored database into place: {e}"))
        })?;
        sync_dir(
            db.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        );
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

/// Takes the safety copy of the current database, checkpoints its log into the
/// main file, and removes the (then empty) `-wal` and the `-shm`. Returns the
/// safety copy's path.
fn retire_current(db: &Path, now: i64) -> Result<PathBuf> {
    let conn = crate::db::open_connection(db, Duration::from_secs(10))?;
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
    // move everything into the main file; TRUNCATE leaves a zero-length -wal
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    conn.close().map_err(|(_, e)| Error::from(e))?;
    let wal = sibling(db, "-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if busy != 0 || wal_len > 0 {
        return Err(Error::invalid(
            "another program still has the database open (its write-ahead log is in use). Close it — for example \
             a sqlite3 shell or a second Frontdesk started from another folder — and restore again; nothing was changed.",
        ));
    }
    for stale in [wal, sibling(db, "-shm")] {
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
    Ok(safety)
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

    fn at(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    fn file(when: &str) -> BackupFile {
        let t = at(when);
        BackupFile {
            name: file_name(t),
            path: file_name(t),
            taken_at: t,
            bytes: 1,
            safety_copy: false,
        }
    }

    #[test]
    fn backup_names_round_trip_and_other_files_are_ignored() {
        let t = at("2030-01-07 08:00");
        assert_eq!(file_name(t), "frontdesk-20300107-080000.sqlite3");
        assert_eq!(parse_file_name(&file_name(t)), Some((t, false)));
        assert_eq!(
            parse_file_name("frontdesk-20300107-080000-2.sqlite3"),
            Some((t, false))
        );
        assert_eq!(
            parse_file_name("frontdesk-before-restore-20300107-080000.sqlite3"),
            Some((t, true))
        );
        assert_eq!(parse_file_name("notes.txt"), None);
        assert_eq!(
            parse_file_name(".frontdesk-20300107-080000.sqlite3.7.partial"),
            None
        );
    }

    #[test]
    fn retention_keeps_the_newest_per_day_for_14_days_and_per_week_for_8_weeks() {
        // two backups a day for 120 days
        let mut all = Vec::new();
        for day in 0..120 {
            let base = at("2030-01-01 09:00") + day * 86_400;
            for hour in [0, 8] {
                let t = base + hour * 3600;
                all.push(BackupFile {
                    name: file_name(t),
                    path: String::new(),
                    taken_at: t,
                    bytes: 1,
                    safety_copy: false,
                });
            }
        }
        let keep = Retention {
            keep_daily: 14,
            keep_weekly: 8,
        };
        let pruned = to_prune(&all, keep);
        let kept: Vec<&BackupFile> = all.iter().filter(|b| !pruned.contains(b)).collect();
        let newest = all.iter().map(|b| b.taken_at).max().unwrap();
        assert!(
            kept.iter().any(|b| b.taken_at == newest),
            "the newest backup is always kept"
        );
        // 14 daily; the 8 weekly overlap the last two weeks, adding 6 older weeks
        assert!(
            (14..=14 + 8).contains(&kept.len()),
            "kept {} backups, expected 14 daily plus up to 8 weekly",
            kept.len()
        );
        let oldest_kept = kept.iter().map(|b| b.taken_at).min().unwrap();
        let mut weeks: Vec<_> = kept
            .iter()
            .map(|b| utc(b.taken_at).date().iso_week())
            .collect();
        weeks.dedup();
        assert_eq!(
            weeks.len(),
            8,
            "backups of exactly the 8 newest weeks are kept"
        );
        assert!(
            newest - oldest_kept > 6 * 7 * 86_400,
            "the weekly backups reach back past six full weeks"
        );
        let older: Vec<_> = kept
            .iter()
            .filter(|b| newest - b.taken_at >= 86_400)
            .collect();
        let mut days: Vec<_> = older.iter().map(|b| utc(b.taken_at).date()).collect();
        days.dedup();
        assert_eq!(
            days.len(),
            older.len(),
            "beyond the last day, at most one backup per day is kept"
        );
        let last_day = kept.iter().filter(|b| newest - b.taken_at < 86_400).count();
        assert_eq!(last_day, 2, "both backups of the last 24 hours are kept");
    }

    #[test]
    fn safety_copies_are_never_pruned() {
        let mut b = file("2029-01-01 10:00");
        b.safety_copy = true;
        let all = vec![file("2030-01-07 10:00"), b];
        assert!(to_prune(
            &all,
            Retention {
                keep_daily: 1,
                keep_weekly: 0
            }
        )
        .is_empty());
    }
}
