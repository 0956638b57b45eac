//! The Frontdesk desktop shell: a Tauri window over the `frontdesk` core.
//!
//! The shell is thin by rule (DESIGN.md §1): a command takes Rust-side state, calls
//! the core and maps the result; no clinic rule lives here. [`builder`] is generic
//! over the runtime so unit tests drive the real commands and state through Tauri's
//! mock runtime, with no window or display.

mod commands;
mod database_location;
mod error;
mod jobs;
mod reminder_worker;
mod state;
#[cfg(test)]
mod testing;
mod watcher;

pub use commands::AppInfo;
pub use database_location::DatabaseLocation;
pub use error::CommandError;
pub use jobs::{JobKind, JobProgress, Jobs};
pub use state::AppState;

use std::sync::{Arc, OnceLock};

use frontdesk::{Actor, Frontdesk, OpenOptions};
use tauri::{Manager, Runtime};

/// The command-line flag that opens (creating it on an empty database) the demo clinic.
pub const DEMO_FLAG: &str = "--demo";

/// Opens the database once; on an empty database with `--demo`, fills it with the
/// demo clinic and its staff (their passwords are kept for the login screen).
fn open_state(location: &DatabaseLocation, demo: bool) -> AppState {
    let opened = Frontdesk::open(location.path(), OpenOptions::default());
    if let Some(upgrade) = opened.as_ref().ok().and_then(Frontdesk::schema_upgrade) {
        tracing::info!("{upgrade}");
    }
    let state = AppState::new(opened);
    if demo {
        if let Ok(desk) = state.desk() {
            match open_demo(&desk) {
                Ok(accounts) => state.set_demo_accounts(accounts),
                Err(e) => tracing::warn!("--demo: {e}"),
            }
        }
    }
    state
}

static STARTED_AT_MS: OnceLock<u64> = OnceLock::new();

/// Notes when the process started; `main` calls it first thing.
pub fn mark_started() {
    STARTED_AT_MS.get_or_init(now_ms);
}

/// When the process started (Unix milliseconds; the first call's time if
/// [`mark_started`] was not called).
pub fn started_at_ms() -> u64 {
    *STARTED_AT_MS.get_or_init(now_ms)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reopens the database after its file was replaced under this desk: waits for
/// running commands to finish with the old handle, then opens the current file
/// (the old handle refuses every write meanwhile).
fn reopen_replaced<R: Runtime>(app: &tauri::AppHandle<R>) {
    let state = app.state::<AppState>();
    let watcher = app.state::<Arc<watcher::Watcher>>();
    if let Ok(old) = state.close_for_restore(std::time::Duration::from_secs(30)) {
        let path = old.path().to_path_buf();
        drop(old);
        state.reopened(Frontdesk::open(&path, OpenOptions::default()));
    }
    watcher.resume(state.desk().ok().as_ref());
}

/// Starts the multi-desk watcher on the open database (nothing when it is not
/// open): at start-up, and once a recovery key has opened it.
pub(crate) fn start_watching<R: Runtime>(
    app: &tauri::AppHandle<R>,
    state: &AppState,
    watcher: &Arc<watcher::Watcher>,
) {
    if let Ok(desk) = state.desk() {
        let handle = app.clone();
        watcher::start(desk, watcher.clone(), move || reopen_replaced(&handle));
    }
}

/// Creates the demo clinic and its staff when the database has no staff yet.
pub(crate) fn open_demo(desk: &Frontdesk) -> frontdesk::Result<Vec<frontdesk::DemoAccount>> {
    if !desk.needs_first_admin()? {
        return Err(frontdesk::Error::invalid(
            "this database already has a clinic; the demo opens only on an empty database",
        ));
    }
    let cli = Actor::local_admin();
    desk.create_demo_clinic(&cli)?;
    desk.create_demo_staff(&cli)
}

/// The app with every command and piece of managed state registered, not yet run.
pub fn builder<R: Runtime>() -> tauri::Builder<R> {
    install(tauri::Builder::<R>::new())
}

/// Registers Frontdesk's commands and start-up state on `builder`; tests pass
/// `tauri::test::mock_builder()` here.
pub fn install<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|app| {
            // FRONTDESK_DB, else the clinic server this desk was connected to, else
            // the file in the app's data folder
            let from_env = std::env::var_os(DatabaseLocation::ENV).filter(|v| !v.is_empty());
            let location = match (&from_env, frontdesk::storage::db::remembered_server()) {
                (None, Some(url)) => DatabaseLocation::server(url),
                _ => DatabaseLocation::resolve(from_env, || app.path().app_data_dir())?,
            };
            let demo = std::env::args().any(|a| a == DEMO_FLAG);
            let state = open_state(&location, demo);
            let watcher = Arc::new(watcher::Watcher::default());
            start_watching(app.handle(), &state, &watcher);
            reminder_worker::start(app.handle().clone());
            app.manage(location);
            app.manage(state);
            app.manage(watcher);
            app.manage(Arc::new(jobs::Jobs::default()));
            Ok(())
        })
        // every command of commands.txt (the build writes the handler from it)
        .invoke_handler(include!(concat!(env!("OUT_DIR"), "/invoke_handler.rs")))
}

/// The compiled-in configuration, UI assets and access control list.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Opens the window and runs until it is closed.
pub fn run() {
    // without a log folder the app still runs
    let mut log = frontdesk::logging::init(&frontdesk::logging::log_dir())
        .map_err(|e| eprintln!("logging is off: {e}"))
        .ok();
    builder::<tauri::Wry>()
        .build(context())
        .expect("the Frontdesk window failed to start")
        .run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                // the guard flushes the log file; then the process ends without the
                // C library's exit handlers, in which SQLCipher frees its heap while
                // the watcher or the read pool may still use a connection
                drop(log.take());
                frontdesk::platform::exit_now(0);
            }
        });
}
