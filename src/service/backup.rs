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
use crate::storage::pg::audit::AcceptedRestore;
use crate::storage::pg::dump::{self, ServerBackupCheck};
use crate::Frontdesk;

/// A clinic server's backups are restored from the command line, with the
/// server administrator's URL.
const SERVER_RESTORE: &str = "a clinic server's backup is restored on the command line, with the \
     server administrator's URL: frontdesk --db postgres://… restore FILE --admin-url postgres://…";

/// How often a server backup is taken again when the desks wrote rows between
/// its sealing and its snapshot.
const BACKUP_SEAL_ROUNDS: usize = 3;

/// The newest backup ending in `suffix` in `folder` (safety copies aside).
fn newest(folder: &Path, suffix: &str) -> Result<Option<i64>> {
    Ok(backup::list_folder_ending(folder, suffix)?
        .into_iter()
        .filter(|b| !b.safety_copy)
        .map(|b| b.taken_at)
        .max())
}

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
    /// On a clinic server none is ever due: the server's backups are taken from
    /// one PC on a schedule (`frontdesk backup`), not by every desk that starts.
    pub fn backup_due(&self) -> Result<bool> {
        if self.on_server() {
            return Ok(false);
        }
        let last = self.last_backup_at()?;
        Ok(last.is_none_or(|at| self.now() - at >= BACKUP_INTERVAL_SECS))
    }

    /// The backup folder, retention and the backups in the folder.
    pub fn list_backups(&self, actor: &Actor) -> Result<BackupList> {
        let settings = self.backup_settings(actor)?;
        let backups =
            backup::list_folder_ending(Path::new(&settings.folder), self.backup_suffix())?;
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
        if self.on_server() {
            return Err(Error::invalid(SERVER_RESTORE));
        }
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
        if self.on_server() {
            return Err(Error::invalid(SERVER_RESTORE));
        }
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

    /// Verifies a clinic server's backup (`pg_dump`'s archive) against this
    /// server's schema without restoring it (see [`dump::verify`]).
    pub fn check_server_backup(
        &self,
        actor: &Actor,
        candidate: &Path,
    ) -> Result<ServerBackupCheck> {
        actor.require(Action::ManageBackups)?;
        let (server, _, keys) = self.server_store().ok_or_else(|| {
            Error::invalid(
                "this clinic is in a file: check its backups with `restore --check-only`",
            )
        })?;
        dump::verify(server, candidate, keys)
    }

    /// On a clinic server whose database was restored from a backup: takes the
    /// restored audit log as this PC's, so this PC seals again (see
    /// [`crate::storage::pg::PgClinic::accept_restore`] for what must hold).
    /// Audited.
    pub fn accept_restore(&self, actor: &Actor) -> Result<AcceptedRestore> {
        actor.require(Action::ManageBackups)?;
        let (server, _, keys) = self.server_store().ok_or_else(|| {
            Error::invalid("this is for a clinic server: a file's restore moves its anchor itself")
        })?;
        let clinic = self
            .in_read(|c| Ok(crate::storage::settings::get(c, "clinic.id")?))?
            .unwrap_or_default();
        let key = keys.load(&clinic)?.ok_or_else(|| {
            Error::invalid(format!(
                "this PC has not the clinic's audit key ({}), so it neither seals nor has a \
                 restore to accept",
                keys.key_path(&clinic).display()
            ))
        })?;
        let accepted = server.accept_restore(&key, &keys.server_anchor(&clinic)?)?;
        let now = self.now();
        let detail = format!(
            "this PC's audit anchor moved to seal {} of the restored log",
            accepted.head_seq
        );
        self.in_write("audit.accept_restore", |tx| {
            audit(
                tx,
                now,
                actor,
                "audit.accept_restore",
                "audit",
                None,
                &detail,
            )
        })?;
        Ok(accepted)
    }

    /// How this clinic's backup files end (a file's copies, or a server's archives).
    fn backup_suffix(&self) -> &'static str {
        if self.on_server() {
            backup::SERVER_SUFFIX
        } else {
            backup::SUFFIX
        }
    }

    /// The backup folder in effect: the setting, else [`Self::default_backup_folder`].
    pub(crate) fn backup_folder(&self, c: &crate::storage::Conn) -> PathBuf {
        backup::folder_setting(c).unwrap_or_else(|| self.default_backup_folder())
    }

    /// The backup folder when none is set: beside the clinic file, or for a
    /// server in this PC's data folder under the database's name.
    pub(crate) fn default_backup_folder(&self) -> PathBuf {
        if !self.on_server() {
            return backup::default_backup_folder(self.path());
        }
        let url = self.path().to_string_lossy();
        let database = url.split('?').next().unwrap_or_default();
        let database = database.rsplit('/').next().unwrap_or_default();
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(crate::storage::db::APP_IDENTIFIER)
            .join("server-backups")
            .join(database)
    }

    fn last_backup_at(&self) -> Result<Option<i64>> {
        if self.on_server() {
            let folder = self.in_read(|c| Ok(self.backup_folder(c)))?;
            return newest(&folder, backup::SERVER_SUFFIX);
        }
        let db = self.path().to_path_buf();
        let (recorded, folder) = self.read(|c| {
            Ok((
                backup::last_run_at(c)?,
                backup::backup_folder(&crate::storage::Conn::Lite(c), &db),
            ))
        })?;
        Ok(recorded.max(newest(&folder, backup::SUFFIX)?))
    }

    /// A server backup: `pg_dump` with the desks' role (the log sealed first),
    /// checked as a restore would before it takes its name; audited; retention.
    fn take_server_backup(
        &self,
        actor: &Actor,
        dest: Option<PathBuf>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupResult> {
        let (server, url, keys) = self.server_store().expect("on a server");
        let now = self.now();
        let (folder, keep) = self.in_read(|c| Ok((self.backup_folder(c), backup::retention(c))))?;
        let started = Instant::now();
        let name = backup::file_name_ending(now, backup::SERVER_SUFFIX);
        let mut checked = None;
        // sealed up to the snapshot where this PC can: rows the desks wrote
        // between the sealing and the snapshot are sealed and the dump taken
        // again (a restore asks to confirm unsealed rows: nothing shows whether
        // they were changed)
        let write = |partial: &Path| {
            for _ in 0..BACKUP_SEAL_ROUNDS {
                if let Err(e) = server.seal_now(keys) {
                    tracing::warn!("sealing before the backup: {e}");
                }
                progress(Progress::phase(Phase::CopyingPages));
                dump::dump(url, partial)?;
                progress(Progress::phase(Phase::CheckingBackup));
                let check = dump::verify(server, partial, keys)?;
                let done = check.unsealed == 0 || check.seals_verified.is_none();
                checked = Some(check);
                if done {
                    break;
                }
            }
            Ok(())
        };
        let ((target, bytes), in_folder) = match dest {
            None => (backup::write_file_in(&folder, &name, write)?, true),
            Some(d) if d.is_dir() => (backup::write_file_in(&d, &name, write)?, false),
            Some(p) => (backup::write_file_at(&p, write)?, false),
        };
        let millis = started.elapsed().as_millis() as u64;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let detail = match checked {
            Some(c) => format!(
                "{name}: {} appointments, {} audit events",
                c.rows("appointment"),
                c.rows("audit_event")
            ),
            None => name.clone(),
        };
        self.in_write("backup.create", |tx| {
            audit(tx, now, actor, "backup.create", "backup", None, &detail)
        })?;
        let pruned = if in_folder {
            backup::prune_ending(&folder, backup::SERVER_SUFFIX, keep)?
        } else {
            Vec::new()
        };
        tracing::info!(
            millis,
            bytes,
            pruned = pruned.len(),
            "server backup written"
        );
        Ok(BackupResult {
            file: BackupFile {
                name,
                path: target.display().to_string(),
                taken_at: now,
                bytes,
                safety_copy: false,
            },
            millis,
            pruned,
        })
    }

    fn take_backup(
        &self,
        actor: &Actor,
        dest: Option<PathBuf>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupResult> {
        if self.on_server() {
            return self.take_server_backup(actor, dest, progress);
        }
        let now = self.now();
        let (folder, keep) = self.in_read(|c| Ok((self.backup_folder(c), backup::retention(c))))?;
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
