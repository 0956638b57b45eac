//! Checkpoints on a background connection, never inside the write lock.
//!
//! The writer connection has automatic checkpoints off; after every
//! [`CHECKPOINT_EVERY`] commits it asks this thread for a `wal_checkpoint(PASSIVE)`,
//! which takes no write lock, so desks keep booking while it copies pages and
//! fsyncs the database file (SQLite's automatic checkpoint would run inside the
//! committing writer's lock instead).
//!
//! A *truncating* checkpoint (asked for after passcode messages are erased, so their
//! text leaves the `-wal` file too) is tried without waiting: SQLite's TRUNCATE
//! holds the WAL's write lock while it waits for readers, so with a busy timeout a
//! long reader (a backup, an export) would stall every booking behind it. When a
//! writer or a reader is in the way it gives up at once and tries again a second
//! later, until it succeeds.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Commits of this process after which the background checkpointer copies the WAL
/// into the database (a booking adds a handful of pages, so the WAL stays a few MiB).
pub(super) const CHECKPOINT_EVERY: u32 = 200;

/// How long a truncating checkpoint that found the WAL in use waits to try again.
const TRUNCATE_RETRY: Duration = Duration::from_secs(1);
/// How many times it tries before leaving the WAL to the next request.
const TRUNCATE_TRIES: u32 = 600;

pub(super) struct Checkpointer {
    signal: Arc<(Mutex<CheckpointState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    wanted: bool,
    /// Tries left for a truncating checkpoint (0: none wanted).
    truncate_tries: u32,
    stop: bool,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Self> {
        // never waits: a checkpoint that finds the WAL in use is tried again later
        let conn = crate::storage::db::open_connection(path, Duration::ZERO)?;
        let signal = Arc::new((Mutex::new(CheckpointState::default()), Condvar::new()));
        let theirs = signal.clone();
        let thread = std::thread::Builder::new()
            .name("frontdesk-checkpoint".into())
            .spawn(move || run(&conn, &theirs))
            .map_err(|e| Error::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    /// Asks for a passive checkpoint.
    pub(super) fn request(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().unwrap_or_else(|p| p.into_inner()).wanted = true;
        cv.notify_one();
    }

    /// Asks for the WAL to be checkpointed and truncated to zero bytes as soon as
    /// no reader or writer is in the way.
    pub(super) fn request_truncate(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .truncate_tries = TRUNCATE_TRIES;
        cv.notify_one();
    }
}

fn run(conn: &Connection, signal: &(Mutex<CheckpointState>, Condvar)) {
    let (lock, cv) = signal;
    let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        while !st.wanted && st.truncate_tries == 0 && !st.stop {
            st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.stop {
            return;
        }
        let truncate = st.truncate_tries > 0;
        st.wanted = false;
        drop(st);
        // the passive pass copies the pages without any lock, so a truncating pass
        // after it has little left to do while it holds the WAL's write lock
        let passive = checkpoint(conn, "PASSIVE");
        let truncated = truncate && passive && checkpoint(conn, "TRUNCATE");
        st = lock.lock().unwrap_or_else(|p| p.into_inner());
        if truncate && !truncated && !st.stop {
            st.truncate_tries -= 1;
            st = cv
                .wait_timeout(st, TRUNCATE_RETRY)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        } else if truncated {
            st.truncate_tries = 0;
        }
    }
}

/// One checkpoint; true when it completed (nothing left in its way).
fn checkpoint(conn: &Connection, mode: &str) -> bool {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    match conn.query_row(&sql, [], |r| r.get::<_, i64>(0)) {
        Ok(busy) => busy == 0,
        Err(e) if crate::error::is_busy(&e) => false,
        Err(e) => {
            tracing::warn!(error = %e, mode, "background checkpoint failed");
            false
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.signal;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
