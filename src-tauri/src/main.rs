//! The `frontdesk-app` binary: the desktop window. Everything lives in the library so
//! that tests drive the same builder.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    frontdesk_app::run();
}
