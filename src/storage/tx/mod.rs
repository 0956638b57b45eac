//! The write path: every read-then-write in Frontdesk goes through
//! [`Writer::run`], and nowhere else opens a write transaction.
//!
//! A writer passes four doors, in order:
//! 1. the process's **FIFO gate** ([`gate`]) — threads of this process queue first
//!    come, first served, and each is handed the single writer connection in turn
//!    (SQLite's busy handler sleeps and polls with no queue, which starves some
//!    writers for seconds);
//! 2. the **cross-process lock file** ([`lock_file`], `<db>.lock`, an exclusive
//!    `flock`) — the kernel queues the desk processes sharing the file instead of
//!    letting them poll; SQLite's own lock remains the real guard (a process that
//!    skips this file, such as the sqlite3 shell, is still serialised by SQLite);
//! 3. `BEGIN IMMEDIATE` — takes SQLite's write lock up front (a DEFERRED transaction
//!    that later upgrades can fail with a BUSY no retry can fix); SQLITE_BUSY is
//!    retried with jittered exponential back-off;
//! 4. **group fsync** ([`sync`]) — the writer connection commits with
//!    `synchronous=NORMAL` (the WAL frames are written, not yet synced) and releases
//!    the lock at once; [`Writer::run`] then returns only after an `fdatasync` of
//!    the WAL that began after its commit. One fsync covers every commit written
//!    before it started, so the disk's flush latency (4 ms here) is paid once per
//!    batch instead of once per booking inside the lock, which queued 32 desks for
//!    130 ms and more. What a caller is told is saved is on disk, as with
//!    `synchronous=FULL`; a power cut can only drop commits no caller was told about
//!    (SQLite's WAL checksums stop recovery at the first incomplete commit, and an
//!    acknowledged commit was synced together with everything before it). The one
//!    difference: another desk may *see* a commit up to one flush (milliseconds)
//!    before it is on disk. A refusal (slot taken, stale version, rate limit) is
//!    decided on what the transaction read, so it too is reported only after a
//!    sync that began after it: no desk is told "taken" on the strength of a
//!    commit a power cut can still drop. A failed sync stops this handle's writes.
//!
//! Doors 1 to 3 share one deadline (`OpenOptions::lock_deadline`, 10 s unless
//! `FRONTDESK_LOCK_TIMEOUT` says otherwise): a desk frozen while holding the lock
//! makes the others give up with [`Error::Busy`], never hang. Reads never pass any
//! door: WAL readers do not wait for writers.
//!
//! Before the closure runs, the writer checks that the database file and its WAL
//! are still the files it opened (device and inode): if something replaced them (a
//! restore run while this desk's presence was not seen), this handle stops writing
//! instead of committing into a file nobody will read again.
//!
//! The closure runs inside the transaction; it must do only SQL and cheap logic —
//! hashing, random generation and formatting happen before or after. The
//! transaction commits explicitly when the closure returns `Ok` and rolls back
//! (on drop) otherwise. Lock-wait and lock-hold times are recorded per operation.

mod checkpoint;
mod gate;
pub(crate) mod lock_file;
mod sync;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::platform::{self, FileId};
use crate::storage::audit;
use crate::storage::audit_key::Seal;
use crate::storage::metrics::Metrics;
use checkpoint::{Checkpointer, CHECKPOINT_EVERY};
use gate::FifoGate;
use lock_file::LockFile;
use sync::GroupSync;
pub use sync::{set_sync_observer, SyncFault, SyncObserver};

/// Writers waiting for longer than this are logged as slow.
const SLOW_WAIT: Duration = Duration::from_millis(100);
/// Writers holding the lock longer than this are logged as slow.
const SLOW_HOLD: Duration = Duration::from_millis(20);

/// Releases the gate (and the lock file) when the writer is done, even on panic.
struct GateGuard<'a> {
    writer: &'a Writer,
    file_locked: bool,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if self.file_locked {
            self.writer.lock_file.release();
        }
        self.writer.gate.release();
    }
}

/// The files this writer opened, to notice when they are replaced.
struct Files {
    db: PathBuf,
    wal: PathBuf,
    db_id: Option<FileId>,
    wal_id: Option<FileId>,
}

impl Files {
    /// Refuses (for good) when the database or its WAL is no longer the file opened.
    fn unchanged(&self) -> Result<()> {
        let same = |path: &Path, id: Option<FileId>| id.is_none() || platform::file_id(path) == id;
        if same(&self.db, self.db_id) && same(&self.wal, self.wal_id) {
            return Ok(());
        }
        Err(replaced(&self.db))
    }
}

/// The refusal once the database file was replaced under this desk.
fn replaced(db: &Path) -> Error {
    Error::Unusable(format!(
        "the database file {} was replaced (restored from a backup, or moved) while this desk had it open; \
         nothing was saved. Close Frontdesk and start it again to work on the current file.",
        db.display()
    ))
}

/// The process's single write path (see the module docs).
pub struct Writer {
    gate: FifoGate,
    conn: Mutex<Connection>,
    lock_file: LockFile,
    files: Files,
    commits_since_checkpoint: AtomicU32,
    checkpointer: Checkpointer,
    durability: GroupSync,
    /// Test only (the power-cut harness's negative test): callers are told "saved"
    /// without waiting for the group sync.
    ack_before_sync: bool,
    seal: Seal,
    deadline: Duration,
    pub(crate) metrics: Arc<Metrics>,
}

impl Writer {
    /// Opens the writer connection, its WAL and the background checkpointer on a
    /// database whose schema is ready; `lock_file` is the database's lock file.
    pub(crate) fn open(
        path: &Path,
        lock_file: LockFile,
        seal: Seal,
        deadline: Duration,
        sync_fault: Option<SyncFault>,
        ack_before_sync: bool,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let conn = crate::storage::db::open_connection(path, Duration::ZERO)?;
        seal.install(&conn)?;
        // checkpoints run on a background connection (see `Checkpointer`), so the
        // fsync of the main file never happens while the write lock is held
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // commits only write the WAL; `run` makes them durable with a shared fsync
        // of the WAL outside the lock (see `GroupSync` and the module docs)
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // what is deleted or overwritten (an erased passcode message) is zeroed in
        // the page, not left in free space for a file reader to find
        conn.pragma_update(None, "secure_delete", true)?;
        let wal_path = crate::storage::db::sibling(path, "-wal");
        // the WAL exists while any connection that has read is open (this one now)
        let wal = File::open(&wal_path).map_err(|e| {
            Error::Unusable(format!(
                "cannot open the write-ahead log {}: {e}",
                wal_path.display()
            ))
        })?;
        let files = Files {
            db_id: platform::file_id(path),
            wal_id: platform::open_file_id(&wal),
            db: path.to_path_buf(),
            wal: wal_path,
        };
        let durability = GroupSync::new(wal, files.wal.clone(), sync_fault);
        Ok(Writer {
            gate: FifoGate::new(),
            conn: Mutex::new(conn),
            lock_file,
            files,
            commits_since_checkpoint: AtomicU32::new(0),
            checkpointer: Checkpointer::start(path)?,
            durability,
            ack_before_sync,
            seal,
            deadline,
            metrics,
        })
    }

    /// Passes the FIFO gate and takes the cross-process lock file, both before
    /// `deadline`.
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
        if !self.lock_file.acquire(deadline)? {
            self.metrics.record_timeout(op, 0);
            tracing::warn!(op, "another desk held the lock file past the deadline");
            return Err(Error::Busy);
        }
        guard.file_locked = true;
        Ok(guard)
    }

    /// True when the database file or its WAL is no longer the one this handle
    /// opened (a restore replaced it): the handle refuses every write, and its
    /// owner should reopen the database.
    pub fn file_replaced(&self) -> bool {
        self.files.unchanged().is_err()
    }

    /// The clinic's audit seal (key and anchor).
    pub(crate) fn seal(&self) -> &Seal {
        &self.seal
    }

    /// Asks the background checkpointer to empty the WAL file as soon as nothing is
    /// in the way (it never waits inside the lock).
    pub(crate) fn truncate_wal_soon(&self) {
        self.checkpointer.request_truncate();
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction (see the module docs).
    /// `op` names the operation kind for the contention metrics.
    pub fn run<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.durability.healthy()?;
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
        audit::forget_appended();
        let outcome = self
            .files
            .unchanged()
            .and_then(|()| f(&tx))
            .and_then(|value| tx.commit().map(|()| value).map_err(Error::from));
        let released = Instant::now();
        let appended = audit::take_appended();
        // numbered while still holding the lock, so tickets follow the WAL's order.
        // A refusal takes one too: it was decided on what the transaction read, which
        // may be another desk's commit not yet synced; told "slot taken" before that
        // commit is on disk, a desk could find the slot free after a power cut (the
        // power-cut harness found exactly that). So a refusal, like a success, is
        // reported only after a sync that began after it.
        let ticket = match &outcome {
            Ok(_) => Some(self.durability.written()),
            Err(e) if e.code() != crate::error::ErrorCode::Busy => Some(self.durability.written()),
            Err(_) => None,
        };
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
            if !self.ack_before_sync {
                self.durability.wait(ticket)?;
            }
        }
        if ticket.is_some() && outcome.is_ok() {
            // only once the row is on disk: a power cut never leaves the anchor ahead
            if let Some((id, hash)) = appended {
                if let Err(e) = self.seal.anchor.advance(self.seal.keyed_from, id, &hash) {
                    tracing::warn!("cannot advance the audit anchor: {e}");
                }
            }
        }
        outcome
    }
}
