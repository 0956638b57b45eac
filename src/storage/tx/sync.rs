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
//!
//! **Observing the sync** ([`set_sync_observer`]). This sync goes through `std::fs`,
//! not through SQLite, so a simulator of power cuts that sits under SQLite (a
//! wrapping VFS, see `stress::power_cut`) cannot see it. A process-wide observer is
//! told just before each sync (with the WAL's path) and again after the real
//! `fdatasync` succeeded: what was written to the WAL before the first call is on
//! disk once the second returns; writes in between belong to later commits that
//! this sync may or may not cover, so the simulator keeps them unsynced. Either
//! call may fail, standing in for the disk (the power is off). The real sync always
//! runs: the observer only watches it. Unset (production), it costs one atomic
//! load per sync.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use crate::error::{Error, Result};

/// A test hook run before each WAL sync; an error stands in for the disk's.
pub type SyncFault = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// Watches every group sync of the WAL in this process (see the module docs); for
/// the power-cut simulator.
pub trait SyncObserver: Send + Sync {
    /// Called just before the WAL at `wal` is synced; an error fails the sync (as
    /// the disk's would). Returns a token for [`SyncObserver::after_sync`].
    fn before_sync(&self, wal: &Path) -> std::io::Result<u64>;
    /// Called once the real sync succeeded; an error fails it all the same.
    fn after_sync(&self, wal: &Path, token: u64) -> std::io::Result<()>;
}

static OBSERVER: RwLock<Option<Arc<dyn SyncObserver>>> = RwLock::new(None);

/// Sets (or, with `None`, removes) the process-wide [`SyncObserver`].
pub fn set_sync_observer(observer: Option<Arc<dyn SyncObserver>>) {
    *OBSERVER.write().unwrap_or_else(|p| p.into_inner()) = observer;
}

fn observer() -> Option<Arc<dyn SyncObserver>> {
    OBSERVER.read().unwrap_or_else(|p| p.into_inner()).clone()
}

pub(super) struct GroupSync {
    wal: File,
    wal_path: PathBuf,
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
    pub(super) fn new(wal: File, wal_path: PathBuf, fault: Option<SyncFault>) -> Self {
        GroupSync {
            wal,
            wal_path,
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

    /// A commit was written (or a refusal was decided on what was written so far);
    /// its ticket.
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
            let outcome = self.sync();
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

impl GroupSync {
    /// One `fdatasync` of the WAL, with the test hooks around it.
    fn sync(&self) -> std::io::Result<()> {
        if let Some(fault) = &self.fault {
            fault()?;
        }
        let Some(observer) = observer() else {
            return self.wal.sync_data();
        };
        let token = observer.before_sync(&self.wal_path)?;
        self.wal.sync_data()?;
        observer.after_sync(&self.wal_path, token)
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
