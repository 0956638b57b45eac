//! The services' transactions on the clinic server: the same closures that run
//! in the file's one write transaction run here in a SERIALIZABLE transaction.
//!
//! On the file, one writer at a time makes every check-then-change correct. On
//! the server many desks write at once; SERIALIZABLE (serializable snapshot
//! isolation) gives the same guarantee — the committed transactions have the
//! outcome of some one-at-a-time order — without a lock per rule: when the server
//! cannot promise it, it refuses one transaction with a serialization failure,
//! and [`PgClinic::transact`] runs the closure again on a fresh transaction. So
//! every rule written once in Rust holds on both backends.
//!
//! The writes among these also take turns, as on the file: each locks the
//! empty table `write_turn` before its snapshot. Correctness does not rest on
//! it, speed does: the server tracks what a transaction read by index page, so
//! concurrent writes of neighbouring rows (two cancellations) refused each
//! other far more often than they truly conflicted, and the retries made the
//! slowest wait seconds (measured: cancellations at 32 desks 157/s, worst case
//! 0.9 s, without the turn). The one-round-trip writes (booking, the everyday
//! status changes, closing an appointment with nothing to settle, passcodes)
//! do not take it: they go through one-round-trip functions with row locks
//! instead, see the module above; this path is for everything else.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use postgres::types::{ToSql, Type};
use postgres::Row;

use super::{is_broken, is_retryable, to_error, unconfirmed, PgClinic, Session};
use crate::error::Result;

/// One transaction on the clinic server, as the services' closures see it
/// ([`crate::storage::Conn::Server`]).
pub struct ServerTx {
    session: RefCell<Session>,
    /// The server asked for the transaction to be run again (a serialization
    /// failure or a deadlock); noted here because the error reaches the closure's
    /// caller converted.
    retry: Cell<bool>,
    /// The session broke.
    broken: Cell<bool>,
    /// The partial unique index refused a second live appointment in a slot:
    /// a booking committed after this transaction's snapshot, where its own
    /// check saw the slot free (a READ COMMITTED booking, `fd_book`, is outside
    /// the server's serializable guarantee, so it is no serialization failure).
    slot_taken: Cell<bool>,
    /// A statement failed: the server aborted the transaction, whatever the
    /// closure made of the error.
    failed: Cell<bool>,
}

/// Attempts of one service transaction before a serialization failure reaches
/// the desk. SERIALIZABLE refuses more than a conflict strictly needs (its
/// predicate locks cover index pages), so this path waits and tries again far
/// longer than the one-round-trip writes; since the writes take turns, what is
/// left to refuse is a read-only transaction's rare clash.
const ATTEMPTS: u64 = 48;

/// Attempts after a slot was found taken by a booking made since the
/// transaction's snapshot: the next attempt sees that booking, so one is enough
/// for a rule that checks (a series skips the date); a second refusal is final.
const SLOT_TAKEN_ATTEMPTS: u32 = 2;

/// Pooled sessions found closed by the server that one transaction passes over
/// before it says the server is unreachable (more than a desk's pool holds).
const STALE_SESSIONS: u32 = 16;

/// The pause before attempt `n + 1`: growing to 64 ms, with jitter so that the
/// desks that clashed do not clash again in step.
fn backoff(n: u64) -> Duration {
    use rand::Rng;
    let cap = 1u64 << n.min(6);
    Duration::from_micros(rand::rng().random_range(500..=cap * 1000))
}

/// A statement's parameters, each with the type the server is to take it as
/// (so a statement goes in one round trip, and `$3 IS NULL` needs no cast).
pub type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

impl ServerTx {
    fn on(session: Session) -> Self {
        ServerTx {
            session: RefCell::new(session),
            retry: Cell::new(false),
            broken: Cell::new(false),
            slot_taken: Cell::new(false),
            failed: Cell::new(false),
        }
    }

    fn failed(&self, e: postgres::Error) -> rusqlite::Error {
        self.failed.set(true);
        if is_retryable(&e) {
            self.retry.set(true);
        }
        if e.as_db_error()
            .is_some_and(|db| db.constraint() == Some("appointment_one_live_per_slot"))
        {
            self.slot_taken.set(true);
        }
        if is_broken(&e, &self.session.borrow()) {
            self.broken.set(true);
        }
        rusqlite::Error::UserFunctionError(Box::new(e))
    }

    /// Every row of `sql` (`$1`, `$2` … for the parameters).
    pub fn query(&self, sql: &str, params: &Params<'_>) -> rusqlite::Result<Vec<Row>> {
        let result = self.session.borrow_mut().query_typed(sql, params);
        result.map_err(|e| self.failed(e))
    }

    /// The row of `sql`, if any.
    pub fn query_opt(&self, sql: &str, params: &Params<'_>) -> rusqlite::Result<Option<Row>> {
        let result = self.session.borrow_mut().query_typed_opt(sql, params);
        result.map_err(|e| self.failed(e))
    }

    /// Runs `sql`; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &Params<'_>) -> rusqlite::Result<u64> {
        let result = self.session.borrow_mut().execute_typed(sql, params);
        result.map_err(|e| self.failed(e))
    }
}

impl PgClinic {
    /// Runs `f` in one SERIALIZABLE transaction (read-only when `read_only`),
    /// running it again when the server asks (a serialization failure, a
    /// deadlock), and commits. A session that broke before the commit leaves
    /// nothing saved (the server rolls the transaction back) and says so; one
    /// that broke during the commit makes the outcome unknown, said as
    /// "unconfirmed", never retried, never reported saved. Other desks hear of a
    /// committed write (`op`) after it.
    pub fn transact<T>(
        &self,
        op: &str,
        read_only: bool,
        mut f: impl FnMut(&ServerTx) -> Result<T>,
    ) -> Result<T> {
        // A write waits for its turn before its snapshot is taken (LOCK TABLE
        // takes none), so it sees every write that went before it and the
        // writes never refuse each other; the lock ends with the transaction.
        let begin = if read_only {
            "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"
        } else {
            "BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE write_turn IN EXCLUSIVE MODE"
        };
        let (mut retries, mut stale, mut slot_retries) = (0u64, 0u32, 0u32);
        loop {
            let mut session = self.session()?;
            let asked = Instant::now();
            if let Err(e) = session.batch_execute(begin) {
                // a pooled session the server closed while it idled (a restart,
                // a restore): nothing was sent, so another one is taken
                if is_broken(&e, &session) {
                    if stale < STALE_SESSIONS {
                        stale += 1;
                        continue;
                    }
                } else {
                    // the turn was not had in time: the transaction began
                    let _ = session.batch_execute("ROLLBACK");
                }
                let e = to_error(e);
                if !read_only && e.code() == crate::error::ErrorCode::Busy {
                    self.metrics.record_timeout(op, retries);
                }
                return Err(e);
            }
            let tx = ServerTx::on(session);
            let started = Instant::now();
            let waited = started - asked;
            let outcome = f(&tx);
            let session = &mut *tx.session.borrow_mut();
            let outcome = match outcome {
                // the closure went on past a failed statement: the server has
                // aborted the transaction, and its COMMIT would roll back quietly
                Ok(_) if tx.failed.get() => {
                    let _ = session.batch_execute("ROLLBACK");
                    Err(crate::error::Error::Internal(format!(
                        "{op}: a statement failed inside the transaction and was passed over; \
                         nothing was saved"
                    )))
                }
                Ok(value) => match session.batch_execute("COMMIT") {
                    Ok(()) => Ok(value),
                    Err(e) if is_retryable(&e) => {
                        tx.retry.set(true);
                        Err(to_error(e))
                    }
                    Err(e) if is_broken(&e, session) => return Err(unconfirmed(e)),
                    Err(e) => Err(to_error(e)),
                },
                Err(e) => {
                    if !tx.broken.get() {
                        // leaves the session clean for the pool
                        let _ = session.batch_execute("ROLLBACK");
                    }
                    Err(e)
                }
            };
            match outcome {
                Ok(value) => {
                    if !read_only {
                        self.metrics.record(op, waited, started.elapsed(), retries);
                        self.announce(op.to_string());
                    }
                    return Ok(value);
                }
                Err(_) if tx.retry.get() && retries + 1 < ATTEMPTS => {
                    retries += 1;
                    std::thread::sleep(backoff(retries));
                }
                Err(_) if tx.slot_taken.get() && slot_retries < SLOT_TAKEN_ATTEMPTS => {
                    slot_retries += 1;
                    retries += 1;
                }
                Err(e) => {
                    if !read_only {
                        self.metrics.record_refusal(op, e.code());
                    }
                    return Err(e);
                }
            }
        }
    }
}
