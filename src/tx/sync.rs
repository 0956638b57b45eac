//! Group fsync of the WAL: commits take a ticket in WAL order; a caller waits until
//! an `fdatasync` that started after its commit has finished, running that sync
//! itself when no other thread is. One sync covers every commit written before it
//! began, so the disk's flush latency is paid once per batch, outside the lock.
//!
//! **A failed sync stops the writes.** Linux reports a write-back error to one
//! `fsync` only and may already have dropped the dirty pages: a second sync then
//! succeeds although the frames never reached the disk, and since WAL recovery
//! stops at the first missing frame, every later commit is at risk too. So the
//! first failure is sticky: every caller waiting on it, and every later write of
//! this handle, is told that its change may not survive a power cut, until the
//! database is reopened.
//!
//! The sync goes through the WAL file this handle opened, never a file found again
//! by name: a file swapped in under the same name would be synced instead.

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// A test hook run before each WAL sync; an error stands in for the disk's.
pub type SyncFault = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

pub(super) struct GroupSync {
    wal: File,
    fault: Option<SyncFault>,
    state: Mutex<SyncState>,
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Commits written to the WAL by this process.
    written: u64,
    /// All commits up to this ticket are on disk.
    synced: u64,
    /// A thread is running a sync now.
    syncing: bool,
    /// The first sync failure; nothing written since is durable.
    failed: Option<String>,
}

impl GroupSync {
    pub(super) fn new(wal: File, fault: Option<SyncFault>) -> Self {
        GroupSync {
            wal,
            fault,
            state: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses when an earlier sync failed (writes stop until reopened).
    pub(super) fn healthy(&self) -> Result<()> {
        match &self.lock().failed {
            None => Ok(()),
            Some(e) => Err(stopped(e)),
        }
    }

    /// A commit was written; its ticket.
    pub(super) fn written(&self) -> u64 {
        let mut st = self.lock();
        st.written += 1;
        st.written
    }

    /// Returns once commit `ticket` is on disk, or the error of the sync that
    /// should have put it there.
    pub(super) fn wait(&self, ticket: u64) -> Result<()> {
        let mut st = self.lock();
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if let Some(e) = &st.failed {
                return Err(not_durable(e));
            }
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            let covers = st.written;
            drop(st);
            let outcome = match &self.fault {
                Some(fault) => fault().and_then(|()| self.wal.sync_data()),
                None => self.wal.sync_data(),
            };
            st = self.lock();
            st.syncing = false;
            match outcome {
                Ok(()) => st.synced = st.synced.max(covers),
                Err(e) => {
                    tracing::error!(error = %e, "cannot sync the write-ahead log; writes stop");
                    st.failed = Some(e.to_string());
                }
            }
            self.synced.notify_all();
        }
    }
}

fn not_durable(cause: &str) -> Error {
    Error::Unusable(format!(
        "the disk reported an error while saving ({cause}): this change may not survive a power cut. \
         Frontdesk has stopped saving changes on this desk; close it and start it again, and have the disk checked."
    ))
}

fn stopped(cause: &str) -> Error {
    Error::Unusable(format!(
        "nothing was saved: an earlier save failed on the disk ({cause}), so Frontdesk has stopped saving changes \
         on this desk. Close it and start it again, and have the disk checked."
    ))
}
