//! Logs: `tracing` events to a daily-rotating file in the app-data folder, for the
//! clinic admin or whoever supports them.
//!
//! What is logged: operation names, timings, slow lock waits and holds, refused
//! races (slot taken, stale version), backups and restores (sizes and times), and
//! unexpected errors. What is never logged: patient names, phone numbers,
//! passcodes, passwords, reasons or notes — the core only passes operation names
//! and numbers to `tracing`, and that must stay so.
//!
//! The desktop app calls [`init`] once at start with [`log_dir`] and keeps the
//! guard until exit. The CLI logs nothing unless `FRONTDESK_LOG` is set (a filter
//! such as `info` or `frontdesk=debug`), and then to stderr only, so scripts that
//! read its stdout are never disturbed ([`init_stderr_from_env`]).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};

/// Log files are `frontdesk.YYYY-MM-DD.log`.
pub const FILE_PREFIX: &str = "frontdesk";
/// Days of log files kept.
pub const KEEP_DAYS: usize = 30;
/// The environment variable with the log filter (`info`, `frontdesk=debug`…).
pub const ENV_FILTER: &str = "FRONTDESK_LOG";

/// Keeps the background log writer running; drop it at exit to flush.
pub struct LogGuard {
    _worker: WorkerGuard,
    dir: PathBuf,
}

impl LogGuard {
    /// The folder the log files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The log folder the app uses: `FRONTDESK_LOG_DIR`, else `logs` in the OS
/// app-data folder of Frontdesk (beside the default database). The admin screen
/// shows it.
pub fn log_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FRONTDESK_LOG_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(crate::storage::db::APP_IDENTIFIER)
        .join("logs")
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env(ENV_FILTER).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Sends `tracing` events (level from `FRONTDESK_LOG`, default `info`) to a file
/// in `dir` that rotates daily, keeping [`KEEP_DAYS`] files. Call once per
/// process; a second call fails.
pub fn init(dir: &Path) -> Result<LogGuard> {
    crate::platform::create_private_dir(dir).map_err(|e| {
        Error::invalid(format!(
            "cannot create the log folder {}: {}",
            dir.display(),
            e.public_message()
        ))
    })?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(KEEP_DAYS)
        .build(dir)
        .map_err(|e| Error::invalid(format!("cannot write logs in {}: {e}", dir.display())))?;
    let (writer, worker) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| Error::Internal(format!("logging was already set up: {e}")))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Frontdesk started");
    Ok(LogGuard {
        _worker: worker,
        dir: dir.to_path_buf(),
    })
}

/// For the CLI: logs to stderr when `FRONTDESK_LOG` is set, otherwise nothing.
pub fn init_stderr_from_env() {
    if std::env::var_os(ENV_FILTER).is_some_and(|v| !v.is_empty()) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_goes_to_a_dated_file_in_the_log_folder() {
        let dir = tempfile::tempdir().unwrap();
        let guard = init(dir.path()).expect("logging starts");
        assert_eq!(guard.dir(), dir.path());
        tracing::warn!(op = "book", wait_us = 150_000u64, "slow write lock");
        drop(guard); // flushes
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "one log file for today");
        let name = files[0].file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with("frontdesk.") && name.ends_with(".log"),
            "dated name: {name}"
        );
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(
            text.contains("Frontdesk started") && text.contains("slow write lock"),
            "{text}"
        );
    }
}
