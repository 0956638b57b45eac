//! Restore swaps a verified backup in for the database file, and never leaves a
//! half-restored file, whenever the process is killed:
//! 1. take the database for this process alone (the exclusive presence lock,
//!    see [`crate::storage::presence`]) or refuse, naming the desks to close;
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

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use ts_rs::TS;

use super::verify::{self, file_sha256, sqlite_header, verify_as, BackupCheck};
use super::{sync_dir, utc, write_backup_in_with, NAME_TIME, SAFETY_PREFIX, SUFFIX};
use crate::domain::auth::{Action, Actor};
use crate::domain::progress::{self, Phase, Progress};
use crate::error::{Error, Result};
use crate::storage::audit;
use crate::storage::audit_key::{KeyFolder, Seal};
use crate::storage::cipher::DbKey;

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

/// Restores the backup `candidate` over the database at `db` (see the module docs
/// for the steps and why a kill at any moment leaves a whole database). No
/// [`crate::Frontdesk`] may be open on `db`, in this process or another: drop yours
/// first and reopen afterwards. `now` stamps the safety copy and the audit row.
/// `confirmed`: the admin saw the check's warnings (a foreign file, differing
/// staff accounts) and wants it restored anyway; without it such a backup is
/// refused. Keys come from this computer's key folder.
pub fn restore(
    actor: &Actor,
    db: &Path,
    candidate: &Path,
    now: i64,
    confirmed: bool,
) -> Result<RestoreReport> {
    let keys = KeyFolder::new(KeyFolder::default_dir(), db)?;
    restore_with(
        actor,
        db,
        candidate,
        now,
        confirmed,
        &keys,
        &mut progress::ignore,
    )
}

/// [`restore`] with the key folder `keys`, reporting its phases to `progress`:
/// [`Phase::CopyingBackup`] (bytes), [`Phase::CheckingCopy`],
/// [`Phase::SavingSafetyCopy`] (pages), [`Phase::SwappingIn`].
pub(crate) fn restore_with(
    actor: &Actor,
    db: &Path,
    candidate: &Path,
    now: i64,
    confirmed: bool,
    keys: &KeyFolder,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreReport> {
    actor.require(Action::ManageBackups)?;
    // cheap checks first; the full verification runs on the copy that is swapped
    // in (one integrity check of a large file takes seconds)
    sqlite_header(candidate, candidate)?;
    swap_in(
        actor,
        db,
        Incoming::Backup {
            path: candidate,
            confirmed,
        },
        now,
        keys,
        progress,
    )
}

/// What [`swap_in`] puts in place of the database.
pub(super) enum Incoming<'a> {
    /// A backup file (`confirmed`: its warnings were seen).
    Backup { path: &'a Path, confirmed: bool },
    /// The database itself, rewritten under `key` once no desk has it open (see
    /// [`super::convert`]); `action` names the audit row; `keep_old`: keep the
    /// safety copy of the old file (an encrypt deletes its plain one).
    Rewritten {
        key: &'a DbKey,
        action: &'static str,
        keep_old: bool,
        /// What the database was when the admin asked (checked again here, under
        /// the lock: another admin may have converted it meanwhile).
        was: crate::storage::cipher::FileKind,
    },
}

/// The steps in the module docs, for a backup or for the database rewritten.
pub(super) fn swap_in(
    actor: &Actor,
    db: &Path,
    incoming: Incoming<'_>,
    now: i64,
    keys: &KeyFolder,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreReport> {
    let started = Instant::now();
    // the real file, whatever the spelling (restoring onto a new computer: this
    // also creates the app-data folder)
    let db = &crate::storage::db::resolve_path(db)?;
    let _alone = crate::storage::presence::hold_exclusive(db, "restore")?;
    refuse_other_programs(db)?;
    let kept = this_computers_settings(db)?;

    // a rewrite reads the database only now, when nobody can change it any more
    let rewritten = crate::storage::db::sibling(db, ".rewritten");
    let (candidate, confirmed, action, keep_old) = match incoming {
        Incoming::Backup { path, confirmed } => (path, confirmed, "backup.restore", true),
        Incoming::Rewritten {
            key,
            action,
            keep_old,
            was,
        } => {
            if crate::storage::cipher::file_kind(db)? != was {
                return Err(Error::invalid(
                    "the database was encrypted or given a new key meanwhile (another admin?); nothing was changed",
                ));
            }
            // kept before anything is written under it
            crate::storage::cipher::store(key, keys.dir())?;
            let _ = std::fs::remove_file(&rewritten);
            progress(Progress::phase(Phase::Encrypting));
            if let Err(e) = super::convert::rewrite(db, &rewritten, key) {
                let _ = std::fs::remove_file(&rewritten);
                return Err(e);
            }
            (rewritten.as_path(), true, action, keep_old)
        }
    };
    let outcome = swap_verified(db, candidate, (confirmed, now), keys, progress);
    let _ = std::fs::remove_file(&rewritten);
    let (mut check, mut safety) = outcome?;
    if !keep_old {
        if let Some(old) = safety.take() {
            let _ = std::fs::remove_file(old);
        }
    }
    check.path = candidate.display().to_string();
    let detail = match action {
        "backup.restore" => candidate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => format!(
            "key id {}",
            crate::storage::cipher::file_kind(db)?
                .key_id()
                .unwrap_or_default()
        ),
    };
    let safety_sha = match &safety {
        Some(p) => Some((p.display().to_string(), file_sha256(p)?)),
        None => None,
    };
    record_restore(db, actor, now, (action, &detail), &kept, safety_sha, keys)?;
    tracing::info!(
        millis = started.elapsed().as_millis() as u64,
        action,
        "database replaced"
    );
    Ok(RestoreReport {
        restored: check,
        database: db.display().to_string(),
        safety_copy: safety.map(|p| p.display().to_string()),
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Steps 2 to 5 of the module docs, with the database to ourselves. Returns the
/// check of what is now in place and the safety copy of what was.
fn swap_verified(
    db: &Path,
    candidate: &Path,
    (confirmed, now): (bool, i64),
    keys: &KeyFolder,
    progress: &mut dyn FnMut(Progress),
) -> Result<(BackupCheck, Option<PathBuf>)> {
    let restoring = crate::storage::db::sibling(db, ".restoring");
    let _ = std::fs::remove_file(&restoring); // left by a killed restore
    let outcome = prepare_copy(candidate, &restoring, db, keys, progress).and_then(|check| {
        if check.needs_confirmation() && !confirmed {
            return Err(Error::invalid(format!(
                "{} needs your confirmation before it is restored: {}. Nothing was changed.",
                candidate.display(),
                check.warnings().join("; ")
            )));
        }
        let retired = if db.exists() {
            Some(retire_current(db, now, progress)?)
        } else {
            None
        };
        // killed between the swap and record_restore below, the anchor would point
        // past the restored log and `check` would call it tampered with for good:
        // cleared now (check skips a cleared anchor), it is set again by
        // record_restore, or by the next saved write if the restore is cut off
        progress(Progress::phase(Phase::SwappingIn));
        let seal = Seal::open(&restoring, keys)?;
        seal.anchor
            .reset(seal.keyed_from, 0, "cleared-for-restore")?;
        drop(seal);
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
    if outcome.is_err() {
        let _ = std::fs::remove_file(&restoring);
    }
    outcome
}

/// Copies the candidate to `to`, marks the copy as a rollback-journal database (a
/// file copied from a live WAL database carries the WAL flag; it has no `-wal` of
/// its own here), fsyncs, and verifies the copy.
fn prepare_copy(
    candidate: &Path,
    to: &Path,
    db: &Path,
    keys: &KeyFolder,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupCheck> {
    copy_reporting(candidate, to, progress)
        .map_err(|e| Error::invalid(format!("cannot copy the backup next to the database: {e}")))?;
    progress(Progress::phase(Phase::CheckingCopy));
    // the copy took the backup's mode; it becomes the clinic's database
    crate::platform::make_private(to);
    if crate::storage::cipher::file_kind(to)? == crate::storage::cipher::FileKind::Plain {
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
        // verified as it came, then encrypted (when it must be) and verified again
        let check = verify_as(to, candidate, db, keys)?;
        if encrypt_plain_copy(to, db, keys, progress)? {
            progress(Progress::phase(Phase::CheckingCopy));
            verify_as(to, candidate, db, keys)?;
        }
        return Ok(check);
    } else if verify::is_readable(to) {
        // an encrypted file's header is encrypted too: SQLite itself switches the
        // copy (nobody else has it open) out of WAL mode
        let conn = crate::storage::db::open_file(to, OpenFlags::default())?;
        let _: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        drop(conn);
        std::fs::File::open(to)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::Internal(format!("cannot flush the copied backup: {e}")))?;
    }
    verify_as(to, candidate, db, keys)
}

/// A plain backup restored over an encrypted database, or onto a computer without
/// one (where new clinics are encrypted), is encrypted first: under the current
/// database's key, or a fresh one kept in `keys`. Over a plain database it stays
/// plain (encrypt that with `frontdesk encrypt`).
/// Returns whether it encrypted the copy.
fn encrypt_plain_copy(
    copy: &Path,
    db: &Path,
    keys: &KeyFolder,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool> {
    let key = match crate::storage::cipher::file_kind(db)? {
        crate::storage::cipher::FileKind::Plain => return Ok(false),
        crate::storage::cipher::FileKind::Encrypted(_) => crate::storage::cipher::key_of(db)?,
        crate::storage::cipher::FileKind::New | crate::storage::cipher::FileKind::NotADatabase => {
            None
        }
    };
    let key = match key {
        Some(key) => key,
        None => {
            let key = DbKey::generate();
            crate::storage::cipher::store(&key, keys.dir())?;
            key
        }
    };
    let encrypted = crate::storage::db::sibling(copy, ".encrypted");
    let _ = std::fs::remove_file(&encrypted);
    progress(Progress::phase(Phase::Encrypting));
    let outcome = super::convert::rewrite(copy, &encrypted, &key).and_then(|()| {
        std::fs::rename(&encrypted, copy)
            .map_err(|e| Error::Internal(format!("cannot encrypt the copied backup: {e}")))
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&encrypted);
    }
    outcome.map(|()| true)
}

/// Copies `from` to `to` (a new file) in 1 MiB pieces, reporting the bytes copied
/// as [`Phase::CopyingBackup`]. Not flushed: the caller fsyncs the copy.
fn copy_reporting(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(Progress),
) -> std::io::Result<()> {
    let mut src = std::fs::File::open(from)?;
    let total = src.metadata()?.len();
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    progress(Progress::of(Phase::CopyingBackup, 0, total));
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])?;
        done += n as u64;
        progress(Progress::of(Phase::CopyingBackup, done, total));
    }
    if done != total {
        // a file that changed size while it was copied ends at its real size
        progress(Progress::of(Phase::CopyingBackup, done, done));
    }
    Ok(())
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
    let wal = crate::storage::db::sibling(db, "-wal");
    let holders = crate::platform::processes_with_open(&[db, &wal]);
    if holders.is_empty() {
        return Ok(());
    }
    Err(in_use(&format!(" ({})", holders.join(", "))))
}

/// How the safety copy's progress is reported.
const SAFETY_PHASES: (Phase, Phase) = (Phase::SavingSafetyCopy, Phase::CheckingSafetyCopy);

/// Takes the safety copy of the current database, then takes the file for this
/// connection alone and out of WAL mode (see step 4 in the module docs), and
/// removes the `-shm`. Returns the safety copy's path and the connection, which
/// holds SQLite's exclusive lock on the old file until it is dropped.
fn retire_current(
    db: &Path,
    now: i64,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, Connection)> {
    let conn = crate::storage::db::open_connection(db, Duration::from_secs(1))?;
    let folder = super::backup_folder(&crate::storage::Conn::Lite(&conn), db);
    let name = format!("{SAFETY_PREFIX}{}{SUFFIX}", utc(now).format(NAME_TIME));
    // (a second restore in the same second keeps the first one's copy too)
    let (safety, _) = write_backup_in_with(&conn, &folder, &name, SAFETY_PHASES, progress)
        .map_err(|e| {
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
        .query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
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
        crate::storage::db::sibling(db, "-wal"),
        crate::storage::db::sibling(db, "-shm"),
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

/// Settings that run a program or move data: a restore never takes them from the
/// backup, it keeps this computer's (a hostile backup could name a program to run
/// or a folder to copy the data to).
/// (`otp.sender_name` only picks among this PC's senders file, but the choice is
/// this PC's too; the old `otp.sender*` keys named a program.)
const THIS_COMPUTERS_SETTINGS: &[&str] = &[
    "otp.sender_name",
    "otp.sender",
    "otp.sender_args",
    "backup.folder",
];

/// This computer's values of [`THIS_COMPUTERS_SETTINGS`] (none without a database).
fn this_computers_settings(db: &Path) -> Result<Vec<(String, String)>> {
    if !db.exists() {
        return Ok(Vec::new());
    }
    let conn = crate::storage::db::open_file(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut kept = Vec::new();
    for key in THIS_COMPUTERS_SETTINGS {
        if let Some(value) = crate::storage::settings::get(&crate::storage::Conn::Lite(&conn), key)?
        {
            kept.push((key.to_string(), value));
        }
    }
    Ok(kept)
}

/// Brings the restored database to this build's schema, then in one transaction:
/// this computer's settings in place of the backup's, the safety copy recorded as
/// a backup Frontdesk wrote (so it can be restored without a warning), and the
/// `backup.restore` audit row; then moves the audit anchor to the restored log.
fn record_restore(
    db: &Path,
    actor: &Actor,
    now: i64,
    (action, detail): (&str, &str),
    kept: &[(String, String)],
    safety: Option<(String, String)>,
    keys: &KeyFolder,
) -> Result<()> {
    let lock = crate::storage::tx::lock_file::LockFile::open(db)?;
    crate::storage::db::prepare_schema(db, &lock, Duration::from_secs(10), None)?;
    drop(lock);
    let seal = Seal::open(db, keys)?;
    let mut conn = crate::storage::db::open_connection(db, Duration::from_secs(10))?;
    seal.install(&conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for key in THIS_COMPUTERS_SETTINGS {
        tx.execute("DELETE FROM setting WHERE key = ?1", [key])?;
    }
    for (key, value) in kept {
        tx.execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2)",
            [key, value],
        )?;
    }
    if let Some((file, sha256)) = safety {
        let bytes = std::fs::metadata(&file)
            .map(|m| m.len() as i64)
            .unwrap_or(0);
        tx.execute(
            "INSERT INTO backup_run (at, file, bytes, millis, in_folder, actor, sha256) VALUES (?1, ?2, ?3, 0, 1, ?4, ?5)",
            rusqlite::params![now, file, bytes, actor.label(), sha256],
        )?;
    }
    audit::record(
        &crate::storage::Conn::Lite(&tx),
        now,
        &actor.label(),
        action,
        "database",
        None,
        detail,
    )?;
    let (head_id, head_hash) = audit::head(&crate::storage::Conn::Lite(&tx))?;
    tx.commit()?;
    seal.anchor.reset(seal.keyed_from, head_id, &head_hash)?;
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
        let other = crate::storage::db::open_keyed(&db).unwrap();
        other
            .query_row("SELECT count(*) FROM patient", [], |_| Ok(()))
            .unwrap();
        let refused = retire_current(&db, 0, &mut progress::ignore)
            .expect_err("refused while another connection is open");
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
        let (_, held) = retire_current(&db, 0, &mut progress::ignore)
            .expect("retired once nobody else has it open");
        drop(held);
        let mode: String = crate::storage::db::open_keyed(&db)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "the retired file is out of WAL mode");
        assert!(
            !crate::storage::db::sibling(&db, "-wal").exists(),
            "its log was checkpointed and removed"
        );
    }
}
