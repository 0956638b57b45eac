//! Backups and restores as desk operations (the file work is in [`crate::storage::backup`]).
//!
//! The desktop shell calls one method each: `backup_if_due` at start,
//! `backup_now` from the admin screen, `list_backups` to show them,
//! `check_backup` before asking "restore this?", and `restore_backup` (which closes
//! this handle: reopen the database afterwards, whatever the outcome).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::progress::{self, Phase, Progress};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::service::settings;
use crate::storage::backup::{self, BackupCheck, BackupFile, BackupResult, RestoreReport};
use crate::Frontdesk;

/// An automatic backup is due when the newest one is at least this old.
pub const BACKUP_INTERVAL_SECS: i64 = 86_400;

/// The backups screen: where they go, what is kept, and what is there.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct BackupList {
    /// The backup folder and retention.
    pub settings: settings::BackupSettings,
    /// Backups in the folder, newest first.
    pub backups: Vec<BackupFile>,
    /// When the newest backup anywhere (folder or elsewhere) was taken.
    #[ts(type = "number | null")]
    pub last_backup_at: Option<i64>,
}

impl Frontdesk {
    /// Takes a backup now. `dest`: `None` = the backup folder (then retention
    /// runs); a folder = a new dated file in it; any other path = exactly that file.
    pub fn backup_now(&self, actor: &Actor, dest: Option<PathBuf>) -> Result<BackupResult> {
        self.backup_now_with(actor, dest, &mut progress::ignore)
    }

    /// [`backup_now`](Self::backup_now), reporting the pages copied
    /// ([`Phase::CopyingPages`]) and the check ([`Phase::CheckingBackup`]) to
    /// `progress` as it goes.
    pub fn backup_now_with(
        &self,
        actor: &Actor,
        dest: Option<PathBuf>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupResult> {
        actor.require(Action::ManageBackups)?;
        self.take_backup(actor, dest, progress)
    }

    /// Takes a backup into the backup folder when the newest backup is a day old
    /// or more (the app calls it at start). Housekeeping the app does for whoever
    /// signs in, so it needs no permission; it is audited as `actor`.
    pub fn backup_if_due(&self, actor: &Actor) -> Result<Option<BackupResult>> {
        self.backup_if_due_with(actor, &mut progress::ignore)
    }

    /// [`backup_if_due`](Self::backup_if_due), reporting its progress as
    /// [`backup_now_with`](Self::backup_now_with) does.
    pub fn backup_if_due_with(
        &self,
        actor: &Actor,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<BackupResult>> {
        if !self.backup_due()? {
            return Ok(None);
        }
        self.take_backup(actor, None, progress).map(Some)
    }

    /// Whether an automatic backup is due: there is none yet, or the newest is
    /// [`BACKUP_INTERVAL_SECS`] old or more.
    pub fn backup_due(&self) -> Result<bool> {
        let last = self.last_backup_at()?;
        Ok(last.is_none_or(|at| self.now() - at >= BACKUP_INTERVAL_SECS))
    }

    /// The backup folder, retention and the backups in the folder.
    pub fn list_backups(&self, actor: &Actor) -> Result<BackupList> {
        let settings = self.backup_settings(actor)?;
        let backups = backup::list_folder(Path::new(&settings.folder))?;
        let last_backup_at = self.last_backup_at()?;
        Ok(BackupList {
            settings,
            backups,
            last_backup_at,
        })
    }

    /// Verifies a backup file without restoring it (what it holds, or why it
    /// cannot be restored).
    pub fn check_backup(&self, actor: &Actor, candidate: &Path) -> Result<BackupCheck> {
        actor.require(Action::ManageBackups)?;
        backup::verify(candidate, self.path(), &self.writer()?.seal().folder)
    }

    /// Restores `candidate` over this database (see [`backup::restore`]). Closes
    /// this handle first, because a restore needs the file to itself; the caller
    /// reopens the database afterwards whether it succeeded or not. Refused while
    /// any other desk has the database open. `confirmed`: the admin confirmed the
    /// check's warnings (see [`BackupCheck::needs_confirmation`]).
    pub fn restore_backup(
        self,
        actor: &Actor,
        candidate: &Path,
        confirmed: bool,
    ) -> Result<RestoreReport> {
        self.restore_backup_with(actor, candidate, confirmed, &mut progress::ignore)
    }

    /// [`restore_backup`](Self::restore_backup), reporting its phases to
    /// `progress`: [`Phase::CheckingBackup`] (the check before anything is
    /// closed), then those of [`backup::restore`].
    pub fn restore_backup_with(
        self,
        actor: &Actor,
        candidate: &Path,
        confirmed: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RestoreReport> {
        actor.require(Action::ManageBackups)?;
        progress(Progress::phase(Phase::CheckingBackup));
        let check = self.check_backup(actor, candidate)?;
        if check.needs_confirmation() && !confirmed {
            return Err(Error::invalid(format!(
                "{} needs your confirmation before it is restored: {}. Nothing was changed.",
                candidate.display(),
                check.warnings().join("; ")
            )));
        }
        let (db, now) = (self.path().to_path_buf(), self.now());
        let keys = self.writer()?.seal().folder.clone();
        let _ = self.flush_metrics();
        drop(self);
        backup::restore_with(actor, &db, candidate, now, confirmed, &keys, progress)
    }

    fn last_backup_at(&self) -> Result<Option<i64>> {
        let db = self.path().to_path_buf();
        let (recorded, folder) = self.read(|c| {
            Ok((
                backup::last_run_at(c)?,
                backup::backup_folder(&crate::storage::Conn::Lite(c), &db),
            ))
        })?;
        let in_folder = backup::list_folder(&folder)?
            .into_iter()
            .filter(|b| !b.safety_copy)
            .map(|b| b.taken_at)
            .max();
        Ok(recorded.max(in_folder))
    }

    fn take_backup(
        &self,
        actor: &Actor,
        dest: Option<PathBuf>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupResult> {
        let now = self.now();
        let db = self.path().to_path_buf();
        let (folder, keep) =
            self.in_read(|c| Ok((backup::backup_folder(c, &db), backup::retention(c))))?;
        let started = Instant::now();
        let phases = (Phase::CopyingPages, Phase::CheckingBackup);
        // a pooled read connection: the snapshot never blocks the desks' writes;
        // the copy never goes over an existing file (it could be this database),
        // and two backups in the same second each get a name of their own
        let name = backup::file_name(now);
        let (target, bytes, in_folder) = match dest {
            None => {
                let (p, bytes) = self
                    .read(|c| backup::write_backup_in_with(c, &folder, &name, phases, progress))?;
                (p, bytes, true)
            }
            Some(d) if d.is_dir() => {
                let (p, bytes) =
                    self.read(|c| backup::write_backup_in_with(c, &d, &name, phases, progress))?;
                (p, bytes, false)
            }
            Some(p) => {
                let bytes = self.read(|c| backup::write_backup_with(c, &p, phases, progress))?;
                (p, bytes, false)
            }
        };
        // recorded, so a restore can tell this backup from files Frontdesk did not write
        let sha256 = backup::file_sha256_with(&target, progress)?;
        let millis = started.elapsed().as_millis() as u64;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = target.display().to_string();
        self.in_write("backup.create", |tx| {
            let run = backup::record_run(
                tx,
                &backup::Run {
                    at: now,
                    file: &file,
                    bytes,
                    millis,
                    in_folder,
                    actor: &actor.label(),
                    sha256: &sha256,
                },
            )?;
            audit(tx, now, actor, "backup.create", "backup", Some(run), &name)?;
            Ok(())
        })?;
        let pruned = if in_folder {
            backup::prune(&folder, keep)?
        } else {
            Vec::new()
        };
        tracing::info!(millis, bytes, pruned = pruned.len(), "backup written");
        let file = BackupFile {
            name,
            path: file,
            taken_at: now,
            bytes,
            safety_copy: false,
        };
        Ok(BackupResult {
            file,
            millis,
            pruned,
        })
    }
}
