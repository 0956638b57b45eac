//! Deny by default: every command the UI may call is listed here, which makes
//! tauri-build generate an `allow-<command>` permission for it and reject any command
//! that no capability grants. Grants live in `capabilities/` (main window only).

/// The app's commands, in the order they are registered in `lib.rs`.
const COMMANDS: &[&str] = &[
    "app_info",
    // session.rs
    "startup",
    "first_run",
    "open_demo_clinic",
    "login",
    "logout",
    "touch",
    "clinic_settings",
    "watch_changes",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
