//! The commands the UI calls. Each is listed in build.rs and granted to the main
//! window in capabilities/main.json; nothing else is callable.
//!
//! A command is a few lines: take the signed-in [`Actor`] from managed state with
//! [`as_actor`] (the page never sends a token or an actor), parse its input into
//! core types, call the core on a blocking thread, and return `{code, message}`
//! errors ([`CommandError`]). No clinic rule lives here: the core enforces them all.

pub mod admin;
pub mod appointments;
pub mod desk;
pub mod input;
pub mod keys;
pub mod operations;
pub mod patients;
pub mod payments;
pub mod schedule;
pub mod session;
pub mod waitlist;

use std::sync::Arc;

use frontdesk::{Actor, Frontdesk};
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use ts_rs::TS;

use crate::error::CommandError;
use crate::state::AppState;
use crate::DatabaseLocation;

/// Runs `f` for the person signed in at this window, on a blocking thread.
/// `Unauthenticated` when nobody is signed in or the session ended (idle logoff):
/// the UI then returns to the login screen.
pub(crate) async fn as_actor<T, F>(state: &AppState, f: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&Frontdesk, &Actor) -> frontdesk::Result<T> + Send + 'static,
{
    let desk = state.desk()?;
    let sessions = state.sessions();
    let token = state.token().ok_or_else(CommandError::unauthenticated)?;
    blocking(move || {
        let actor = sessions.actor(&desk, &token)?;
        f(&desk, &actor)
    })
    .await
}

/// Runs `f` on the open database without a signed-in person (first run, login).
pub(crate) async fn with_desk<T, F>(state: &AppState, f: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&Arc<Frontdesk>) -> frontdesk::Result<T> + Send + 'static,
{
    let desk = state.desk()?;
    blocking(move || f(&desk)).await
}

/// Runs core work off the main thread and maps its error for the UI.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce() -> frontdesk::Result<T> + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(CommandError::internal)?
        .map_err(CommandError::from)
}

/// What the status line shows about this app instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct AppInfo {
    /// The app's version (from the package).
    pub version: String,
    /// The database file this desk works on.
    pub db_path: String,
    /// When this process started (Unix milliseconds), for the start-up timing the
    /// end-to-end test reports.
    #[ts(type = "number")]
    pub started_at_ms: u64,
}

/// Version and database location, for the status line.
#[tauri::command(async)]
#[tracing::instrument(skip_all)]
pub fn app_info<R: Runtime>(
    app: AppHandle<R>,
    location: State<'_, DatabaseLocation>,
    state: State<'_, AppState>,
) -> AppInfo {
    let db_path = match state.desk() {
        // connected to its clinic server since it started
        Ok(desk) if desk.on_server() => desk.path().display().to_string(),
        _ => location.path().display().to_string(),
    };
    AppInfo {
        version: app.package_info().version.to_string(),
        db_path,
        started_at_ms: crate::started_at_ms(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime};
    use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};

    use super::*;

    /// Calls `cmd`, which takes no arguments, as the page in `window` would.
    fn invoke(
        window: &WebviewWindow<MockRuntime>,
        cmd: &str,
    ) -> Result<serde_json::Value, serde_json::Value> {
        crate::testing::invoke(window, cmd, serde_json::json!({}))
    }

    /// Runs start-up as the event loop would: the configured windows, then `setup`.
    fn started(mut app: App<MockRuntime>) -> App<MockRuntime> {
        // Deprecated because a loop of it busy-waits; called once on the mock runtime
        // it only runs start-up, without entering an event loop the test can't leave.
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        app
    }

    /// The real configuration and access control list, as compiled into the binary.
    fn real_app() -> App<MockRuntime> {
        started(
            crate::install(mock_builder())
                .build(crate::context())
                .unwrap(),
        )
    }

    #[test]
    fn app_info_reports_the_version_and_the_database_file() {
        let app = started(
            crate::install(mock_builder())
                .build(mock_context(noop_assets()))
                .unwrap(),
        );
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();

        let info = invoke(&window, "app_info").unwrap();

        // The UI reads exactly these field names (ui/src/bindings/AppInfo.ts).
        assert_eq!(
            info["version"],
            app.package_info().version.to_string(),
            "got {info}"
        );
        let opened = app.state::<DatabaseLocation>();
        assert_eq!(
            info["db_path"].as_str().map(Path::new),
            Some(opened.path().as_path()),
            "db_path must name the file the desk opened; got {info}"
        );
    }

    #[test]
    fn the_main_window_may_call_app_info() {
        let app = real_app();
        let main = app
            .get_webview_window("main")
            .expect("the configuration opens a window labelled main");
        let info =
            invoke(&main, "app_info").expect("capabilities/main.json grants app_info to main");
        assert!(
            info["db_path"].as_str().is_some_and(|p| !p.is_empty()),
            "got {info}"
        );
    }

    // any other window is denied every command by the ACL:
    // src-tauri/tests/command_fuzz.rs walks them all
}
