//! Admin operations: backups, reports, exports and the printable day sheet.
//!
//! Exports go into an `exports/` folder inside the backup folder (the app has no
//! file dialog or fs plugin by design); the command returns where the file is.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use frontdesk::domain::clinic::{format_local, parse_date};
use frontdesk::domain::progress::Progress;
use frontdesk::service::export::DaySheet;
use frontdesk::storage::backup::{BackupCheck, BackupResult, RestoreReport};
use frontdesk::{Action, Actor, BackupList, Frontdesk, OpenOptions, Report, ReportPeriod};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use ts_rs::TS;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::jobs::{JobKind, JobProgress, Jobs};
use crate::state::AppState;
use crate::watcher::Watcher;

/// The backup folder, retention and the backups in it.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_backups(state: State<'_, AppState>) -> Result<BackupList, CommandError> {
    as_actor(&state, move |desk, actor| desk.list_backups(actor)).await
}

/// Takes a backup into the backup folder now (retention runs afterwards), as a
/// long job: one backup at a time, its progress on the jobs channel.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn backup_now(
    state: State<'_, AppState>,
    jobs: State<'_, Arc<Jobs>>,
) -> Result<BackupResult, CommandError> {
    run_job(
        &state,
        &jobs,
        JobKind::Backup,
        Action::ManageBackups,
        |desk, actor, progress| desk.backup_now_with(actor, None, progress),
    )
    .await
}

/// Subscribes the page to the long jobs' progress (see [`crate::jobs`]): each
/// report of any window's backup, restore, slot generation or encryption, and a
/// `progress: null` message with its outcome when one ends (at once, how the last
/// job of each kind not running now ended). Answers the jobs running now.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn watch_jobs(
    jobs: State<'_, Arc<Jobs>>,
    on_progress: Channel<JobProgress>,
) -> Result<Vec<JobKind>, CommandError> {
    jobs.subscribe(on_progress);
    Ok(jobs.running())
}

/// Runs `f` as a `kind` job for the person signed in at this window, who must be
/// allowed `action` (checked first: a refused caller never holds the job), on a
/// blocking thread, its reports going to the jobs channel. `Busy` while such a job
/// runs already (see [`Jobs::start`]).
pub(crate) async fn run_job<T, F>(
    state: &AppState,
    jobs: &Arc<Jobs>,
    kind: JobKind,
    action: Action,
    f: F,
) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&Frontdesk, &Actor, &mut dyn FnMut(Progress)) -> frontdesk::Result<T>
        + Send
        + 'static,
{
    as_actor(state, move |_, actor| actor.require(action)).await?;
    let job = jobs.start(kind)?;
    let mut reporter = job.reporter();
    let outcome = as_actor(state, move |desk, actor| {
        f(desk, actor, &mut |p| reporter.report(p))
    })
    .await;
    job.end(&outcome);
    outcome
}

/// What a backup holds (checked, nothing changed), before asking "restore this?".
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn check_backup(
    state: State<'_, AppState>,
    path: Input<String>,
) -> Result<BackupCheck, CommandError> {
    let Input(path) = path;
    as_actor(&state, move |desk, actor| {
        desk.check_backup(actor, Path::new(&path))
    })
    .await
}

/// How long a restore waits for running commands to let go of the database.
const RESTORE_PATIENCE: Duration = Duration::from_secs(5);

/// Restores a backup over the database: the core verifies it, refuses while any
/// other desk has the database open, and keeps a safety copy. This window closes
/// its database for the restore and reopens it afterwards, whatever the outcome.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn restore_backup<R: Runtime>(
    app: AppHandle<R>,
    path: Input<String>,
    confirmed: Input<bool>,
) -> Result<RestoreReport, CommandError> {
    let (Input(path), Input(confirmed)) = (path, confirmed);
    let candidate = PathBuf::from(path);
    // the core checks the permission and the file while the database is still open
    let shown = candidate.clone();
    let state = app.state::<AppState>();
    let actor = as_actor(&state, move |desk, actor| {
        desk.check_backup(actor, &shown)?;
        Ok(actor.clone())
    })
    .await?;
    let job = app.state::<Arc<Jobs>>().start(JobKind::Restore)?;
    let mut reporter = job.reporter();
    let outcome = with_database_closed(&app, move |desk| {
        desk.restore_backup_with(&actor, &candidate, confirmed, &mut |p| reporter.report(p))
    })
    .await;
    job.end(&outcome);
    outcome
}

/// Runs `f` on this window's database handle taken out for the file to be
/// replaced (a restore, a conversion), whatever the outcome reopening the file
/// and watching it again afterwards. New commands answer `Busy` meanwhile.
pub(super) async fn with_database_closed<R: Runtime, T: Send + 'static>(
    app: &AppHandle<R>,
    f: impl FnOnce(Frontdesk) -> frontdesk::Result<T> + Send + 'static,
) -> Result<T, CommandError> {
    let watcher = app.state::<Arc<Watcher>>().inner().clone();
    let handle = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let state = handle.state::<AppState>();
        watcher.pause();
        let desk = match state.close_for_restore(RESTORE_PATIENCE) {
            Ok(desk) => desk,
            Err(e) => {
                watcher.resume(state.desk().ok().as_ref());
                return Err(e);
            }
        };
        let db = desk.path().to_path_buf();
        let outcome = f(desk);
        state.reopened(Frontdesk::open(&db, OpenOptions::default()));
        watcher.resume(state.desk().ok().as_ref());
        outcome.map_err(CommandError::from)
    })
    .await
    .map_err(CommandError::internal)?
}

/// Bookings, cancellations, late cancellations, no-shows and utilisation per
/// doctor per week or month, for the days `from..=to` (`YYYY-MM-DD`).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn clinic_report(
    state: State<'_, AppState>,
    from: Input<String>,
    to: Input<String>,
    period: Input<ReportPeriod>,
) -> Result<Report, CommandError> {
    let (Input(from), Input(to), Input(period)) = (from, to, period);
    as_actor(&state, move |desk, actor| {
        desk.report(actor, parse_date(&from)?, parse_date(&to)?, period)
    })
    .await
}

/// A file an export wrote.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SavedExport {
    /// Where it was saved.
    pub path: String,
    /// Rows written (without the header).
    #[ts(type = "number")]
    pub rows: u64,
}

/// Writes the appointments of the days `from..=to` as CSV into the exports folder.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn export_appointments(
    state: State<'_, AppState>,
    from: Input<String>,
    to: Input<String>,
) -> Result<SavedExport, CommandError> {
    let (Input(from), Input(to)) = (from, to);
    as_actor(&state, move |desk, actor| {
        let (from, to) = (parse_date(&from)?, parse_date(&to)?);
        let name = format!("appointments-{from}-to-{to}");
        save_export(desk, actor, &name, |out| {
            desk.export_appointments_csv(actor, from, to, out)
        })
    })
    .await
}

/// Writes the patient list as CSV into the exports folder.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn export_patients(state: State<'_, AppState>) -> Result<SavedExport, CommandError> {
    as_actor(&state, move |desk, actor| {
        save_export(desk, actor, "patients", |out| {
            desk.export_patients_csv(actor, out)
        })
    })
    .await
}

/// The printable day sheet of one doctor or all, for `date` (`YYYY-MM-DD`).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn day_sheet(
    state: State<'_, AppState>,
    date: Input<String>,
    doctor_id: Input<Option<i64>>,
) -> Result<DaySheet, CommandError> {
    let (Input(date), Input(doctor_id)) = (date, doctor_id);
    as_actor(&state, move |desk, actor| {
        desk.day_sheet(actor, parse_date(&date)?, doctor_id)
    })
    .await
}

/// Creates `<backup folder>/exports/<name>-<timestamp>.csv` (never overwriting) and
/// lets `write` fill it; a failed export leaves no half file behind.
pub(crate) fn save_export(
    desk: &Frontdesk,
    actor: &Actor,
    name: &str,
    write: impl FnOnce(&mut BufWriter<File>) -> frontdesk::Result<u64>,
) -> frontdesk::Result<SavedExport> {
    let folder = PathBuf::from(desk.backup_settings(actor)?.folder).join("exports");
    fs::create_dir_all(&folder).map_err(|e| file_error(&folder, e))?;
    let stamp = file_stamp(desk)?;
    let path = folder.join(format!("{name}-{stamp}.csv"));
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| file_error(&path, e))?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out).and_then(|rows| {
        out.flush().map_err(|e| file_error(&path, e))?;
        Ok(rows)
    });
    match written {
        Ok(rows) => Ok(SavedExport {
            path: path.display().to_string(),
            rows,
        }),
        Err(e) => {
            drop(out);
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// `YYYYMMDD-HHMMSS` in clinic time, for export file names.
fn file_stamp(desk: &Frontdesk) -> frontdesk::Result<String> {
    let now = desk.now();
    let local = format_local(now, desk.settings()?.tz());
    let compact: String = local
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect();
    Ok(format!("{compact}{:02}", now.rem_euclid(60)))
}

fn file_error(path: &Path, e: std::io::Error) -> frontdesk::Error {
    frontdesk::Error::invalid(format!("cannot write {}: {e}", path.display()))
}
