//! The cross-process lock file `<db>.lock`: an exclusive `flock` that queues the
//! desk processes sharing one database, so they wait in the kernel's queue instead
//! of sleeping and polling SQLite's lock.
//!
//! Waiting has a deadline. `flock` itself cannot time out, so the blocking call is
//! made by a helper thread while the writer waits on a condition variable until its
//! deadline: a desk process that is stopped while holding the lock (a debugger, a
//! suspended laptop, SIGSTOP) makes others give up with `Busy` after the deadline
//! instead of hanging for ever. When the helper gets the lock after its writer gave
//! up, it lets go at once (or hands it to the next writer already waiting), so an
//! abandoned wait never keeps other processes out.
//!
//! Uncontended, the lock is taken with a non-blocking `try_lock` on the caller's
//! thread: the helper thread is only involved when another process holds it.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::{Error, Result};

/// Where the lock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nobody in this process holds or wants it.
    Free,
    /// A writer asked the helper thread to wait for it.
    Wanted,
    /// The helper thread is blocked in `flock`.
    Waiting,
    /// The helper got it for the waiting writer, who has not picked it up yet.
    Ready,
    /// A writer of this process holds it.
    Held,
}

struct State {
    phase: Phase,
    /// A writer is waiting for the helper (false once it gave up).
    waiter: bool,
    /// The helper's `flock` failed (reported to the waiting writer).
    failure: Option<String>,
    /// The handle was dropped: the helper exits once it is done.
    stop: bool,
}

struct Shared {
    file: File,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lock file of one database, for one process.
pub(crate) struct LockFile {
    shared: Arc<Shared>,
}

impl LockFile {
    /// Opens (creating) `<db>.lock` and starts its helper thread.
    pub(crate) fn open(db: &Path) -> Result<Self> {
        let name = crate::storage::db::sibling(db, ".lock");
        let file = crate::platform::open_private(&name).map_err(|e| {
            Error::Unusable(format!(
                "cannot create the lock file {}: {e}",
                name.display()
            ))
        })?;
        let shared = Arc::new(Shared {
            file,
            state: Mutex::new(State {
                phase: Phase::Free,
                waiter: false,
                failure: None,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("frontdesk-lock-file".into())
            .spawn(move || helper(&theirs))
            .map_err(|e| Error::Internal(format!("cannot start the lock-file thread: {e}")))?;
        Ok(LockFile { shared })
    }

    /// Takes the lock, waiting until `deadline` at most: `Ok(false)` when another
    /// process held it all that time.
    pub(crate) fn acquire(&self, deadline: Instant) -> Result<bool> {
        let s = &*self.shared;
        let mut st = s.lock();
        if st.phase == Phase::Free {
            match s.file.try_lock() {
                Ok(()) => {
                    st.phase = Phase::Held;
                    return Ok(true);
                }
                Err(TryLockError::WouldBlock) => {
                    st.phase = Phase::Wanted;
                    s.changed.notify_all();
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Internal(format!("cannot lock the lock file: {e}")))
                }
            }
        }
        // Wanted or Waiting (possibly left by a writer that gave up): wait for the helper
        st.waiter = true;
        loop {
            if let Some(e) = st.failure.take() {
                st.waiter = false;
                return Err(Error::Internal(format!("cannot lock the lock file: {e}")));
            }
            if st.phase == Phase::Ready {
                st.phase = Phase::Held;
                st.waiter = false;
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                st.waiter = false;
                return Ok(false);
            }
            st = s
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Lets go of the lock taken by [`LockFile::acquire`].
    pub(crate) fn release(&self) {
        let s = &*self.shared;
        let mut st = s.lock();
        if st.phase == Phase::Held {
            let _ = s.file.unlock();
            st.phase = Phase::Free;
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // the helper may be blocked in flock behind a frozen desk: never join it;
        // it lets go and exits when it gets the lock
        let s = &*self.shared;
        let mut st = s.lock();
        if st.phase == Phase::Held {
            let _ = s.file.unlock();
            st.phase = Phase::Free;
        }
        st.stop = true;
        s.changed.notify_all();
    }
}

/// The helper thread: blocks in `flock` when a writer wants the lock, then hands it
/// over — or lets go at once when the writer has given up meanwhile.
fn helper(s: &Shared) {
    let mut st = s.lock();
    loop {
        while st.phase != Phase::Wanted && !st.stop {
            st = s.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.stop {
            return;
        }
        st.phase = Phase::Waiting;
        drop(st);
        let outcome = s.file.lock();
        st = s.lock();
        match outcome {
            Ok(()) if st.waiter && !st.stop => st.phase = Phase::Ready,
            Ok(()) => {
                let _ = s.file.unlock();
                st.phase = Phase::Free;
            }
            Err(e) => {
                if st.waiter {
                    st.failure = Some(e.to_string());
                }
                st.phase = Phase::Free;
            }
        }
        s.changed.notify_all();
    }
}
