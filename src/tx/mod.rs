//! The write path: every read-then-write in Frontdesk goes through
//! [`Writer::run`], and nowhere else opens a write transaction.
//!
//! A writer passes three doors, in order:
//! 1. the process's **FIFO gate** — threads of this process queue first come, first
//!    served, and each is handed the single writer connection in turn (SQLite's busy
//!    handler sleeps and polls with no queue, which starves some writers for seconds);
//! 2. the **cross-process lock file** (`<db>.lock`, an exclusive `flock`) — the kernel
//!    queues the desk processes sharing the file instead of letting them poll;
//!    SQLite's own lock remains the real guard (a process that skips this file, such
//!    as the sqlite3 shell, is still serialised by SQLite);
//! 3. `BEGIN IMMEDIATE` — takes SQLite's write lock up front (a DEFERRED transaction
//!    that later upgrades can fail with a BUSY no retry can fix); SQLITE_BUSY is
//!    retried with jittered exponential back-off until the deadline, then reported
//!    as [`Error::Busy`].
//!
//! 4. **group fsync** — the writer connection commits with `synchronous=NORMAL`
//!    (the WAL frames are written, not yet synced) and releases the lock at once;
//!    [`Writer::run`] then returns only after an `fdatasync` of the WAL that began
//!    after its commit. One fsync covers every commit written before it started, so
//!    the disk's flush latency (4 ms here) is paid once per batch instead of once
//!    per booking inside the lock, which queued 32 desks for 130 ms and more. What
//!    a caller is told is saved is on disk, as with `synchronous=FULL`; a power cut
//!    can only drop commits no caller was told about (SQLite's WAL checksums stop
//!    recovery at the first incomplete commit, and an acknowledged commit was
//!    synced together with everything before it). The one difference: another desk
//!    may *see* a commit up to one flush (milliseconds) before it is on disk.
//!
//! The closure runs inside the transaction; it must do only SQL and cheap logic —
//! hashing, random generation and formatting happen before or after. The
//! transaction commits explicitly when the closure returns `Ok` and rolls back
//! (on drop) otherwise. Lock-wait and lock-hold times are recorded per operation.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Writers waiting for longer than this are logged as slow.
const SLOW_WAIT: Duration = Duration::from_millis(100);
/// Writers holding the lock longer than this are logged as slow.
const SLOW_HOLD: Duration = Duration::from_millis(20);

/// A fair (FIFO) mutual-exclusion gate with a deadline: the lock is handed directly
/// to the longest waiter on release, so nobody can overtake.
struct FifoGate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    held: bool,
    next_ticket: u64,
    /// The ticket the gate was last handed to, not yet picked up.
    handed_to: Option<u64>,
    queue: VecDeque<(u64, Arc<Condvar>)>,
}

impl FifoGate {
    fn new() -> Self {
        FifoGate {
            state: Mutex::new(GateState::default()),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the gate until `deadline`; `false` when the deadline passed.
    fn acquire(&self, deadline: Instant) -> bool {
        let mut st = self.lock_state();
        if !st.held && st.queue.is_empty() {
            st.held = true;
            return true;
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        let cv = Arc::new(Condvar::new());
        st.queue.push_back((ticket, cv.clone()));
        loop {
            if st.handed_to == Some(ticket) {
                st.handed_to = None;
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                st.queue.retain(|(t, _)| *t != ticket);
                return false;
            }
            st = cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn release(&self) {
        let mut st = self.lock_state();
        match st.queue.pop_front() {
            Some((ticket, cv)) => {
                st.handed_to = Some(ticket);
                cv.notify_one();
            }
            None => st.held = false,
        }
    }
}

/// Releases the gate (and the lock file) when the writer is done, even on panic.
struct GateGuard<'a> {
    writer: &'a Writer,
    file_locked: bool,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if self.file_locked {
            let _ = self.writer.lock_file.unlock();
        }
        self.writer.gate.release();
    }
}

/// The process's single write path (see the module docs).
pub struct Writer {
    gate: FifoGate,
    conn: Mutex<Connection>,
    lock_file: File,
    commits_since_checkpoint: AtomicU32,
    checkpointer: Checkpointer,
    durability: GroupSync,
    deadline: Duration,
    pub(crate) metrics: Arc<Metrics>,
}

impl Writer {
    /// Opens the writer connection and the lock file beside the database.
    pub(crate) fn open(path: &Path, deadline: Duration, metrics: Arc<Metrics>) -> Result<Self> {
        let conn = crate::db::open_connection(path, Duration::ZERO)?;
        // checkpoints run on a background connection (see `Checkpointer`), so the
        // fsync of the main file never happens while the write lock is held
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // commits only write the WAL; `run` makes them durable with a shared fsync
        // of the WAL outside the lock (see `GroupSync` and the module docs)
        conn.pragma_update(None, "synchronous", "NORMAL")?;

        Ok(Writer {
            gate: FifoGate::new(),
            conn: Mutex::new(conn),
            lock_file: open_lock_file(path)?,
            commits_since_checkpoint: AtomicU32::new(0),
            checkpointer: Checkpointer::start(path)?,
            durability: GroupSync::new(path),
            deadline,
            metrics,
        })
    }

    /// Passes the FIFO gate and takes the cross-process lock file.
    fn enter(&self, op: &'static str, deadline: Instant) -> Result<GateGuard<'_>> {
        if !self.gate.acquire(deadline) {
            self.metrics.record_timeout(op, 0);
            tracing::warn!(op, "gave up waiting for this process's write queue");
            return Err(Error::Busy);
        }
        let mut guard = GateGuard {
            writer: self,
            file_locked: false,
        };
        // Blocking: the kernel queues the other desk processes. A holder only keeps
        // it for one short transaction, and a crashed holder loses it.
        self.lock_file
            .lock()
            .map_err(|e| Error::Internal(format!("cannot lock the lock file: {e}")))?;
        guard.file_locked = true;
        Ok(guard)
    }

    /// Runs `f` while holding this process's gate and the cross-process lock, but
    /// outside any transaction (opening: WAL mode and migrations; restores).
    pub(crate) fn exclusively<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _guard = self.enter("exclusive", Instant::now() + self.deadline)?;
        f()
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction (see the module docs).
    /// `op` names the operation kind for the contention metrics.
    pub fn run<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let asked = Instant::now();
        let deadline = asked + self.deadline;
        let guard = self.enter(op, deadline)?;
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut retries = 0u64;
        let mut backoff = Duration::from_micros(500);
        let tx = loop {
            match Transaction::new_unchecked(&conn, TransactionBehavior::Immediate) {
                Ok(tx) => break tx,
                Err(e) if crate::error::is_busy(&e) => {
                    retries += 1;
                    let now = Instant::now();
                    if now >= deadline {
                        self.metrics.record_timeout(op, retries);
                        tracing::warn!(op, retries, "database stayed locked past the deadline");
                        return Err(Error::Busy);
                    }
                    let jitter = rand::rng().random_range(0.5..1.5);
                    std::thread::sleep(backoff.mul_f64(jitter).min(deadline - now));
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let locked = Instant::now();
        let outcome = f(&tx).and_then(|value| tx.commit().map(|()| value).map_err(Error::from));
        let released = Instant::now();
        // numbered while still holding the lock, so tickets follow the WAL's order
        let ticket = outcome.is_ok().then(|| self.durability.written());
        drop(conn);
        drop(guard);
        if outcome.is_ok()
            && self
                .commits_since_checkpoint
                .fetch_add(1, Ordering::Relaxed)
                + 1
                >= CHECKPOINT_EVERY
        {
            self.commits_since_checkpoint.store(0, Ordering::Relaxed);
            self.checkpointer.request();
        }
        let (wait, hold) = (locked - asked, released - locked);
        self.metrics.record(op, wait, hold, retries);
        if wait > SLOW_WAIT || hold > SLOW_HOLD {
            tracing::warn!(
                op,
                wait_us = wait.as_micros() as u64,
                hold_us = hold.as_micros() as u64,
                "slow write lock"
            );
        }
        if let Err(e) = &outcome {
            self.metrics.record_refusal(op, e.code());
            if e.code() == crate::error::ErrorCode::SlotTaken
                || e.code() == crate::error::ErrorCode::Conflict
            {
                tracing::info!(op, refused = ?e.code(), "refused a racing request");
            }
        }
        if let Some(ticket) = ticket {
            self.durability.wait(ticket)?;
        }
        outcome
    }
}

/// Group fsync of the WAL (door 4 in the module docs): commits take a ticket in
/// WAL order; a caller waits until an fsync that started after its commit has
/// finished, running that fsync itself when no other thread is.
struct GroupSync {
    wal: PathBuf,
    state: Mutex<SyncState>,
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Commits written to the WAL by this process.
    written: u64,
    /// All commits up to this ticket are on disk.
    synced: u64,
    /// A thread is running an fsync now.
    syncing: bool,
}

impl GroupSync {
    fn new(db: &Path) -> Self {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        GroupSync {
            wal: wal.into(),
            state: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A commit was written; its ticket.
    fn written(&self) -> u64 {
        let mut st = self.lock();
        st.written += 1;
        st.written
    }

    /// Returns once commit `ticket` is on disk.
    fn wait(&self, ticket: u64) -> Result<()> {
        let mut st = self.lock();
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            let covers = st.written;
            drop(st);
            // opened afresh: the file this connection writes now (fsync works on
            // any descriptor of the file, and syncs every process's frames in it)
            let outcome = File::open(&self.wal).and_then(|f| f.sync_data());
            st = self.lock();
            st.syncing = false;
            if outcome.is_ok() {
                st.synced = st.synced.max(covers);
            }
            self.synced.notify_all();
            if let Err(e) = outcome {
                tracing::error!(error = %e, "cannot sync the write-ahead log");
                return Err(Error::Internal(format!(
                    "the change may not be on disk: syncing the log failed: {e}"
                )));
            }
        }
    }
}

/// Commits of this process after which the background checkpointer copies the WAL
/// into the database (a booking adds a handful of pages, so the WAL stays a few MiB).
const CHECKPOINT_EVERY: u32 = 200;

/// A background thread with its own connection that runs `wal_checkpoint(PASSIVE)`
/// when asked. A PASSIVE checkpoint takes no write lock, so desks keep booking while
/// it copies pages and fsyncs the database file; SQLite's automatic checkpoint would
/// instead run inside the committing writer's lock (turned off on the writer).
struct Checkpointer {
    signal: Arc<(Mutex<CheckpointState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    wanted: bool,
    stop: bool,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self> {
        let conn = crate::db::open_connection(path, Duration::from_secs(1))?;
        let signal = Arc::new((Mutex::new(CheckpointState::default()), Condvar::new()));
        let theirs = signal.clone();
        let thread = std::thread::Builder::new()
            .name("frontdesk-checkpoint".into())
            .spawn(move || loop {
                let (lock, cv) = &*theirs;
                let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !st.wanted && !st.stop {
                    st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.stop {
                    return;
                }
                st.wanted = false;
                drop(st);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "background checkpoint failed");
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    fn request(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().unwrap_or_else(|p| p.into_inner()).wanted = true;
        cv.notify_one();
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

fn open_lock_file(db: &Path) -> Result<File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&name)
        .map_err(|e| {
            Error::Unusable(format!(
                "cannot create the lock file {}: {e}",
                Path::new(&name).display()
            ))
        })
}
