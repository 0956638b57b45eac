//! The `frontdesk-app` binary: the desktop window. Everything lives in the library so
//! that tests drive the same builder.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // for the start-up timing (AppInfo::started_at_ms)
    frontdesk_app::mark_started();
    // the database, backups, exports and logs: for this user only, whatever the umask
    frontdesk::platform::restrict_new_files();
    // the database key in the OS keyring where there is one (else the key folder)
    frontdesk::storage::cipher::use_os_keyring();
    frontdesk_app::run();
}
