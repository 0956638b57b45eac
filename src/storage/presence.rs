//! Who has the database open: a small file beside the database (`<db>.presence`)
//! that every [`crate::Frontdesk`] holds a SHARED `flock` on for as long as it is
//! open. A restore needs the database to itself, so it takes an EXCLUSIVE lock
//! without waiting: when that fails, another desk (another process, or another
//! handle in this one) still has the database open.
//!
//! The kernel drops the lock when the process ends, even on `kill -9`, so a crashed
//! desk never blocks a restore. Opening waits (blocking shared lock) while a
//! restore holds the exclusive lock, so no desk can open the file half-swapped.
//! Programs that are not Frontdesk (the `sqlite3` shell, an older Frontdesk, a desk
//! whose presence file was deleted) do not hold this lock; the restore catches
//! those with the operating system's list of open files and SQLite's own locks
//! (see [`crate::storage::backup`]'s restore).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `<db>.presence`.
pub fn presence_path(db: &Path) -> PathBuf {
    crate::storage::db::sibling(db, ".presence")
}

fn open(db: &Path) -> Result<File> {
    let path = presence_path(db);
    crate::platform::open_private(&path)
        .map_err(|e| Error::Unusable(format!("cannot create the file {}: {e}", path.display())))
}

/// Marks the database as open by this handle (shared lock, waits while a restore
/// runs). Keep the returned file for as long as the database is open.
pub(crate) fn hold_shared(db: &Path) -> Result<File> {
    let file = open(db)?;
    file.lock_shared().map_err(|e| {
        Error::Unusable(format!(
            "cannot take the presence lock beside the database: {e}"
        ))
    })?;
    Ok(file)
}

/// Takes the database for this process alone, or refuses with a sentence naming
/// how many other handles are open and telling to close them and try `doing`
/// (e.g. "restore") again. (The CLI also asks before a restore signs anyone in,
/// so a refused restore writes nothing.) `db` is the resolved path.
pub fn hold_exclusive(db: &Path, doing: &str) -> Result<File> {
    let file = open(db)?;
    // a child another thread of this process is starting holds a copy of every
    // descriptor until it runs its program, so a desk closed a moment ago can still
    // hold its lock for a few milliseconds: a holder must hold it for half a second
    let give_up = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let mut attempt = file.try_lock();
    while matches!(attempt, Err(TryLockError::WouldBlock)) && std::time::Instant::now() < give_up {
        std::thread::sleep(std::time::Duration::from_millis(20));
        attempt = file.try_lock();
    }
    match attempt {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => {
            let others = crate::platform::flock_holders(&presence_path(db));
            let count = match others {
                Some(n) if n > 0 => format!(" ({n} still open)"),
                _ => String::new(),
            };
            Err(Error::invalid(format!(
                "Frontdesk is still open on other desks{count}. Close Frontdesk on every desk that uses this \
                 database (and quit any `frontdesk` command still running), then {doing} again; nothing was changed."
            )))
        }
        Err(TryLockError::Error(e)) => Err(Error::Internal(format!(
            "cannot lock the presence file: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a child being started holds for a moment: a desk's lock that goes away
    /// within milliseconds does not refuse a restore; one that stays does.
    #[test]
    fn a_lock_held_for_a_moment_only_does_not_refuse_and_a_held_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.sqlite3");
        let brief = open(&db).unwrap();
        brief.lock_shared().unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(60));
            drop(brief);
        });
        let alone = hold_exclusive(&db, "restore").expect("the brief holder let go");
        release.join().unwrap();
        drop(alone);
        let desk = open(&db).unwrap();
        desk.lock_shared().unwrap();
        let refused = hold_exclusive(&db, "restore").expect_err("an open desk refuses it");
        assert!(refused.to_string().contains("still open"), "{refused}");
    }
}
