//! The database key: opening an encrypted database on a computer that lacks its key
//! (the recovery key), whether the database is encrypted, showing the recovery key
//! to an admin, and encrypting the database or changing its key.

use std::sync::{Arc, Mutex};

use frontdesk::storage::audit_key::KeyFolder;
use frontdesk::storage::backup::{Conversion, ConversionReport};
use frontdesk::{Action, ErrorCode, Frontdesk, OpenOptions};
use frontdesk::{Encryption, RecoveryKey};
use tauri::{AppHandle, Manager, Runtime, State};

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::jobs::{JobKind, Jobs};
use crate::state::AppState;
use crate::watcher::Watcher;
use crate::DatabaseLocation;

/// One unlock at a time: two windows' clicks must not both reopen the database
/// and start a second watcher.
static UNLOCKING: Mutex<()> = Mutex::new(());

/// Opens the database with the clinic's recovery key, on a computer that does not
/// have its key yet (only then: the database did not open for want of its key).
/// The key is kept in this computer's key folder, the database is opened and the
/// multi-desk watcher started, as at start-up. Returns the key id. A wrong key is
/// refused with the core's sentence and nothing is kept.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn unlock_database<R: Runtime>(
    app: AppHandle<R>,
    recovery_key: Input<String>,
) -> Result<String, CommandError> {
    let Input(recovery_key) = recovery_key;
    let handle = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let _one_at_a_time = UNLOCKING.lock().unwrap_or_else(|p| p.into_inner());
        let state = handle.state::<AppState>();
        match state.desk() {
            Ok(_) => {
                return Err(CommandError::new(
                    ErrorCode::Invalid,
                    "the database is open already; it needs no recovery key",
                ))
            }
            Err(e) if e.code != ErrorCode::KeyNeeded => return Err(e),
            Err(_) => {}
        }
        let path = handle.state::<DatabaseLocation>().path().to_path_buf();
        let key_id = frontdesk::storage::cipher::unlock_with_recovery_key(
            &path,
            &recovery_key,
            &KeyFolder::default_dir(),
        )
        .map_err(CommandError::from)?;
        state.reopened(Frontdesk::open(&path, OpenOptions::default()));
        crate::start_watching(&handle, &state, handle.state::<Arc<Watcher>>().inner());
        // the key was right; a database that still does not open says why on the next start-up
        Ok(key_id)
    })
    .await
    .map_err(CommandError::internal)?
}

/// Whether the database is encrypted, and its key id (anyone signed in).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn encryption_status(state: State<'_, AppState>) -> Result<Encryption, CommandError> {
    as_actor(&state, |desk, _| desk.encryption()).await
}

/// The database's recovery key (admins; the core audits each showing).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn show_recovery_key(state: State<'_, AppState>) -> Result<RecoveryKey, CommandError> {
    as_actor(&state, |desk, actor| desk.recovery_key(actor)).await
}

/// Encrypts a plain database or gives an encrypted one a new key (admins). Like a
/// restore: the core refuses while another desk has the database open; this window
/// closes its database for the rewrite and reopens it afterwards, whatever the
/// outcome. Sessions live in this process's memory, so the admin stays signed in.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn convert_database<R: Runtime>(
    app: AppHandle<R>,
    conversion: Input<Conversion>,
) -> Result<ConversionReport, CommandError> {
    let Input(conversion) = conversion;
    let state = app.state::<AppState>();
    // the permission is checked while the database is still open
    let actor = as_actor(&state, move |_, actor| {
        actor.require(Action::ManageKeys)?;
        Ok(actor.clone())
    })
    .await?;
    let job = app.state::<Arc<Jobs>>().start(JobKind::ConvertDatabase)?;
    let mut reporter = job.reporter();
    let outcome = super::operations::with_database_closed(&app, move |desk| {
        desk.convert_database_with(&actor, conversion, &mut |p| reporter.report(p))
    })
    .await;
    job.end(&outcome);
    outcome
}
