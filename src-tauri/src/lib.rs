//! The Frontdesk desktop shell: a Tauri window over the `frontdesk` core.
//!
//! The shell is thin by rule (DESIGN.md §1): a command takes Rust-side state, calls
//! the core and maps the result; no clinic rule lives here. [`builder`] is generic
//! over the runtime so unit tests drive the real commands and state through Tauri's
//! mock runtime, with no window or display.

mod commands;
mod database_location;

pub use commands::AppInfo;
pub use database_location::DatabaseLocation;

use tauri::{Manager, Runtime};

/// The app with every command and piece of managed state registered, not yet run.
pub fn builder<R: Runtime>() -> tauri::Builder<R> {
    install(tauri::Builder::<R>::new())
}

/// Registers Frontdesk's commands and start-up state on `builder`; tests pass
/// `tauri::test::mock_builder()` here.
pub fn install<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|app| {
            let location =
                DatabaseLocation::resolve(std::env::var_os(DatabaseLocation::ENV), || {
                    app.path().app_data_dir()
                })?;
            app.manage(location);
            Ok(())
        })
        // Keep in step with `COMMANDS` in build.rs and capabilities/main.json.
        .invoke_handler(tauri::generate_handler![commands::app_info])
}

/// The compiled-in configuration, UI assets and access control list.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Opens the window and runs until it is closed.
pub fn run() {
    builder::<tauri::Wry>()
        .run(context())
        .expect("the Frontdesk window failed to start");
}
