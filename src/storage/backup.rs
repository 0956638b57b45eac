//! Backups and restores of the clinic database file.
//!
//! **Backups** use SQLite's online backup API from a read connection: the steps
//! (a few hundred pages each, reported as [`Phase::CopyingPages`] progress) all run
//! inside one read transaction on the source, so the copy is a consistent snapshot
//! while the desks keep booking (WAL readers never block the writer, and commits of
//! other connections neither restart the copy nor get into it). A
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
//! **Restore** ([`restore()`], [`verify`]) lives in `backup/restore.rs`, whose docs
//! walk through why a kill at any moment leaves a whole database.

pub mod convert;
mod restore;
mod verify;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDateTime};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::progress::{Phase, Progress};
use crate::error::{Error, Result};

/// The backup settings' keys.
pub mod keys {
    /// Folder for automatic and on-demand backups (a full path; empty = default).
    pub const BACKUP_FOLDER: &str = "backup.folder";
    /// How many days keep their newest backup.
    pub const BACKUP_KEEP_DAILY: &str = "backup.keep_daily";
    /// How many ISO weeks keep their newest backup.
    pub const BACKUP_KEEP_WEEKLY: &str = "backup.keep_weekly";
}

/// Default retention: the newest backup of each of the last 14 days…
pub const DEFAULT_KEEP_DAILY: u32 = 14;
/// …and of each of the last 8 weeks.
pub const DEFAULT_KEEP_WEEKLY: u32 = 8;

/// One backup written, as `backup_run` records it.
pub struct Run<'a> {
    /// When (Unix seconds).
    pub at: i64,
    /// The file's full path.
    pub file: &'a str,
    /// Its size.
    pub bytes: u64,
    /// How long writing it took.
    pub millis: u64,
    /// Whether it went to the backup folder (kept by the retention rule).
    pub in_folder: bool,
    /// Who made it.
    pub actor: &'a str,
    /// The file's SHA-256 (hex).
    pub sha256: &'a str,
}

/// Records a backup written; its row id.
pub fn record_run(conn: &crate::storage::Conn, run: &Run<'_>) -> rusqlite::Result<i64> {
    let conn = conn.lite()?;
    conn.prepare_cached(
        "INSERT INTO backup_run (at, file, bytes, millis, in_folder, actor, sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        run.at,
        run.file,
        run.bytes as i64,
        run.millis as i64,
        run.in_folder,
        run.actor,
        run.sha256
    ])?;
    Ok(conn.last_insert_rowid())
}

/// When the newest recorded backup was written, if any.
pub fn last_run_at(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT max(at) FROM backup_run", [], |r| r.get(0))
}

/// The backup folder used when the setting is empty: `backups` beside the database.
pub fn default_backup_folder(db: &Path) -> PathBuf {
    db.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("backups")
}

/// The backup folder in effect for the database at `db`.
pub fn backup_folder(conn: &crate::storage::Conn, db: &Path) -> PathBuf {
    folder_setting(conn).unwrap_or_else(|| default_backup_folder(db))
}

/// The backup folder setting, when one is set.
pub fn folder_setting(conn: &crate::storage::Conn) -> Option<PathBuf> {
    match crate::storage::settings::get(conn, keys::BACKUP_FOLDER) {
        Ok(Some(v)) if !v.trim().is_empty() => Some(PathBuf::from(v)),
        _ => None,
    }
}

/// The retention in effect.
pub fn retention(conn: &crate::storage::Conn) -> Retention {
    let num = |key, default| {
        crate::storage::settings::get(conn, key)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Retention {
        keep_daily: num(keys::BACKUP_KEEP_DAILY, DEFAULT_KEEP_DAILY),
        keep_weekly: num(keys::BACKUP_KEEP_WEEKLY, DEFAULT_KEEP_WEEKLY),
    }
}

pub use convert::{convert, Conversion, ConversionReport};
pub(crate) use restore::restore_with;
pub use restore::{restore, RestoreReport};
pub use verify::{file_sha256, file_sha256_with, verify, BackupCheck};

/// Backup files are `frontdesk-YYYYMMDD-HHMMSS.sqlite3` (UTC).
const PREFIX: &str = "frontdesk-";
/// Safety copies taken by a restore: `frontdesk-before-restore-YYYYMMDD-HHMMSS.sqlite3`.
const SAFETY_PREFIX: &str = "frontdesk-before-restore-";
/// A clinic file's backups: SQLite databases.
pub const SUFFIX: &str = ".sqlite3";
/// A clinic server's backups: `pg_dump`'s archives, `frontdesk-YYYYMMDD-HHMMSS.pgdump`.
pub const SERVER_SUFFIX: &str = ".pgdump";
const PARTIAL: &str = ".partial";
const NAME_TIME: &str = "%Y%m%d-%H%M%S";
/// How long a backup step may keep meeting a lock before the backup gives up.
const BACKUP_LOCK_DEADLINE: Duration = Duration::from_secs(60);
/// Pages one backup step copies (2 MiB of 4 KiB pages): a report every few
/// milliseconds, few enough steps that their overhead does not count.
const PAGES_PER_STEP: std::ffi::c_int = 512;

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

/// The file name of a backup taken at `at` (UTC).
pub fn file_name(at: i64) -> String {
    file_name_ending(at, SUFFIX)
}

/// The file name of a backup taken at `at` (UTC) ending in `suffix`.
pub fn file_name_ending(at: i64, suffix: &str) -> String {
    format!("{PREFIX}{}{suffix}", utc(at).format(NAME_TIME))
}

fn utc(at: i64) -> NaiveDateTime {
    DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// The time a backup file name says it was taken, and whether it is a safety copy.
pub fn parse_file_name(name: &str) -> Option<(i64, bool)> {
    parse_file_name_ending(name, SUFFIX)
}

fn parse_file_name_ending(name: &str, suffix: &str) -> Option<(i64, bool)> {
    let (stamp, safety) = match name.strip_prefix(SAFETY_PREFIX) {
        Some(rest) => (rest, true),
        None => (name.strip_prefix(PREFIX)?, false),
    };
    let stamp = stamp.strip_suffix(suffix)?;
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
    list_folder_ending(folder, SUFFIX)
}

/// [`list_folder`] for the backups whose names end in `suffix`.
pub fn list_folder_ending(folder: &Path, suffix: &str) -> Result<Vec<BackupFile>> {
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
        let Some((taken_at, safety_copy)) = parse_file_name_ending(&name, suffix) else {
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
    prune_ending(folder, SUFFIX, keep)
}

/// [`prune`] among the backups whose names end in `suffix`.
pub fn prune_ending(folder: &Path, suffix: &str, keep: Retention) -> Result<Vec<String>> {
    let backups = list_folder_ending(folder, suffix)?;
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

/// The names a new backup called `first` may take in `folder`, in order (a
/// second backup in the same second gets a `-2`, `-3`… suffix).
fn candidates<'a>(folder: &'a Path, first: &str) -> impl Iterator<Item = PathBuf> + 'a {
    let first = first.to_string();
    let (stem, suffix) = match first.rfind('.') {
        Some(dot) => (first[..dot].to_string(), first[dot..].to_string()),
        None => (first.clone(), String::new()),
    };
    std::iter::once(folder.join(&first))
        .chain((2..1000).map(move |n| folder.join(format!("{stem}-{n}{suffix}"))))
}

/// Writes a consistent copy of the database `src` is connected to at `dest`:
/// backup API into a temporary file beside `dest`, rollback-journal mode,
/// `integrity_check`, fsync, then moved to `dest` — never over a file already
/// there (it could be this very database). Returns the size in bytes.
pub fn write_backup(src: &Connection, dest: &Path) -> Result<u64> {
    let phases = (Phase::CopyingPages, Phase::CheckingBackup);
    write_backup_with(src, dest, phases, &mut crate::domain::progress::ignore)
}

/// [`write_backup`], reporting the pages copied as `copying` and then the check as
/// `checking` to `progress`.
pub fn write_backup_with(
    src: &Connection,
    dest: &Path,
    phases: (Phase, Phase),
    progress: &mut dyn FnMut(Progress),
) -> Result<u64> {
    write_file_at(dest, |partial| copy_checked(src, partial, phases, progress)).map(|(_, b)| b)
}

/// A backup file `write` makes at the path it is given (a temporary file of its
/// own beside `dest`), moved to exactly `dest` when whole — never over a file
/// already there; returns where it went and its size.
pub(crate) fn write_file_at(
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<(PathBuf, u64)> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = write_partial(dir, &name, write)?;
    publish(&partial, dir, std::iter::once(dest.to_path_buf()))
}

/// [`write_backup_with`] into `folder` under `name` or, when a file holds it,
/// the first free `-2`, `-3`… variant; returns the file and its size. The name
/// is claimed when the copy is moved there, so two desks (threads or processes)
/// backing up in the same second end with a file each.
pub fn write_backup_in_with(
    src: &Connection,
    folder: &Path,
    name: &str,
    phases: (Phase, Phase),
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, u64)> {
    write_file_in(folder, name, |partial| {
        copy_checked(src, partial, phases, progress)
    })
}

/// A backup file `write` makes at the path it is given, moved into `folder`
/// under `name` or the first free `-2`, `-3`… variant, as
/// [`write_backup_in_with`] does; returns where it went and its size.
pub(crate) fn write_file_in(
    folder: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<(PathBuf, u64)> {
    let partial = write_partial(folder, name, write)?;
    publish(&partial, folder, candidates(folder, name))
}

/// What `write` made in a temporary file of its own in `dir` (the folder made
/// if missing); removed again if anything fails.
fn write_partial(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    crate::platform::create_private_dir(dir).map_err(|e| {
        Error::invalid(format!(
            "cannot create the backup folder {}: {}",
            dir.display(),
            e.public_message()
        ))
    })?;
    // one of its own for each write, also for two writes in one process at once
    // (two backups in the same second aim at the same name): a shared partial
    // file would be deleted and rewritten under the other's open connection
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let partial = dir.join(format!(
        ".{name}.{}-{}{PARTIAL}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let outcome = write(&partial);
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome.map(|()| partial)
}

/// Moves the finished `partial` to the first of `names` that no file holds
/// (a file there is never replaced); returns where it went and its size.
fn publish(
    partial: &Path,
    dir: &Path,
    names: impl IntoIterator<Item = PathBuf>,
) -> Result<(PathBuf, u64)> {
    let mut taken = None;
    for dest in names {
        match crate::platform::rename_no_replace(partial, &dest) {
            Ok(()) => {
                sync_dir(dir);
                let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
                return Ok((dest, bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => taken = Some(dest),
            Err(e) => {
                let _ = std::fs::remove_file(partial);
                return Err(Error::invalid(format!(
                    "cannot write the backup {}: {e}",
                    dest.display()
                )));
            }
        }
    }
    let _ = std::fs::remove_file(partial);
    Err(Error::invalid(format!(
        "{} already exists; give a new file name or a folder for the backup",
        taken.unwrap_or_default().display()
    )))
}

/// Backup API from `src` into a new file at `to`, then journal mode, check, fsync.
fn copy_checked(
    src: &Connection,
    to: &Path,
    (copying, checking): (Phase, Phase),
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let _ = std::fs::remove_file(to);
    // 0600 before SQLite opens it (it would create 0644; its journal copies the mode)
    crate::platform::create_private_file(to).map_err(|e| {
        Error::invalid(format!(
            "cannot create the backup file {}: {e}",
            to.display()
        ))
    })?;
    let mut dst = Connection::open(to).map_err(|e| {
        Error::invalid(format!(
            "cannot create the backup file {}: {e}",
            to.display()
        ))
    })?;
    // under the database's own key (SQLCipher copies pages only between files with
    // the same key), so the backup names the key it needs in its first bytes
    if let Some(key) = src
        .path()
        .map(Path::new)
        .map(crate::storage::cipher::key_of)
        .transpose()?
        .flatten()
    {
        key.apply(&dst)?;
    }
    // one read transaction on the source across every step: each step reads the
    // same snapshot, so the copy is consistent and a commit by another connection
    // meanwhile does not restart it (a step outside a transaction would take a new
    // snapshot and SQLite would start the copy over)
    let own_transaction = src.is_autocommit();
    if own_transaction {
        src.execute_batch("BEGIN DEFERRED")?;
    }
    let copied = src
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(Error::from)
        .and_then(|()| copy_pages(src, &mut dst, copying, progress));
    if own_transaction {
        // a read transaction: ending it cannot lose anything
        let _ = src.execute_batch("ROLLBACK");
    }
    copied?;
    progress(Progress::phase(checking));
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

/// The backup steps, [`PAGES_PER_STEP`] pages each, reporting pages copied.
fn copy_pages(
    src: &Connection,
    dst: &mut Connection,
    copying: Phase,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let backup = Backup::new(src, dst)?;
    let deadline = Instant::now() + BACKUP_LOCK_DEADLINE;
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let p = backup.progress();
        let total = p.pagecount.max(0) as u64;
        let done = total.saturating_sub(p.remaining.max(0) as u64);
        match step {
            StepResult::Done => {
                progress(Progress::of(copying, total, total));
                return Ok(());
            }
            StepResult::More => progress(Progress::of(copying, done, total)),
            StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return Err(Error::Busy),
        }
    }
}

fn integrity_problems(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// fsyncs a folder so a rename in it survives a power cut.
use crate::platform::sync_dir;

#[cfg(test)]
mod tests {
    use super::*;

    /// A small plain database to copy, and the folder beside it.
    fn source() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("clinic.sqlite3")).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        (dir, conn)
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(PARTIAL))
            .collect()
    }

    #[test]
    fn a_backup_never_replaces_a_file_that_appeared_at_its_name() {
        // (another desk's backup, or the clinic's own file: it must survive)
        let (dir, conn) = source();
        let dest = dir.path().join("taken.sqlite3");
        std::fs::write(&dest, "another desk's backup").unwrap();
        let err = write_backup(&conn, &dest).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "another desk's backup"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_backup_in_the_folder_takes_the_next_name_when_its_own_was_taken_meanwhile() {
        let (dir, conn) = source();
        let folder = dir.path().join("backups");
        let t = at("2030-01-07 08:00");
        std::fs::create_dir(&folder).unwrap();
        let first = folder.join(file_name(t));
        std::fs::write(&first, "another desk's backup").unwrap();
        let phases = (Phase::CopyingPages, Phase::CheckingBackup);
        let (path, bytes) = write_backup_in_with(
            &conn,
            &folder,
            &file_name(t),
            phases,
            &mut crate::domain::progress::ignore,
        )
        .unwrap();
        assert_eq!(path, folder.join("frontdesk-20300107-080000-2.sqlite3"));
        assert!(bytes > 0);
        assert_eq!(
            std::fs::read_to_string(&first).unwrap(),
            "another desk's backup"
        );
        assert!(leftovers(&folder).is_empty());
    }

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
