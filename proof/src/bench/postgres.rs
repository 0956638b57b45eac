//! `frontdesk bench --postgres URL`: the server backend's guarded writes at 1, 8
//! and 32 desks, against two references measured in the same run on the same
//! server — the **floor** (a one-row `UPDATE` per transaction, autocommit) and the
//! **classic** booking (the way the system Frontdesk grew from booked: a client-side
//! transaction of `SELECT … FOR UPDATE` on the slot, the check, marking the slot,
//! inserting the appointment — one round trip per statement).
//!
//! Every desk is a thread with its own session. The benchmark makes its own
//! database (`frontdesk_bench_<pid>`) with the URL's role, and drops it after.
//! The passcode row measures the storage write only; the argon2 hash happens
//! before it, outside any lock, on the desk's own CPU.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdesk::error::{Error, Result};
use frontdesk::storage::pg::{PasscodeIssue, PgClinic, Session, SqlState};
use frontdesk::AppointmentStatus;

use super::{BenchOptions, BenchRow, Samples, Target};

const DESKS: [usize; 3] = [1, 8, 32];
const NOW: i64 = 1_894_003_200;

/// The bench database on the server, dropped at the end.
struct BenchDb {
    admin: PgClinic,
    name: String,
    url: String,
    clinic: Arc<PgClinic>,
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Ok(mut s) = self.admin.session() {
            let _ = s.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn server_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("clinic server: {e}"))
}

fn create(url: &str) -> Result<BenchDb> {
    let admin = PgClinic::connect(url, 1)?;
    let name = format!("frontdesk_bench_{}", std::process::id());
    {
        let mut s = admin.session()?;
        s.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .map_err(server_error)?;
        s.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(server_error)?;
    }
    let (base, _) = url
        .split('?')
        .next()
        .unwrap_or(url)
        .rsplit_once('/')
        .ok_or_else(|| Error::invalid("the server URL names no database"))?;
    let url = format!("{base}/{name}");
    let clinic = PgClinic::connect(&url, 40)?;
    clinic.migrate()?;
    clinic
        .session()?
        .batch_execute(
            "CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
             INSERT INTO bench_floor SELECT i, 0 FROM generate_series(0, 63) AS i;",
        )
        .map_err(server_error)?;
    Ok(BenchDb {
        admin,
        name,
        url,
        clinic: Arc::new(clinic),
    })
}

/// How long the desks run an operation, untimed, before its clock starts.
const WARM_UP: Duration = Duration::from_secs(2);

/// Runs `op(clinic, desk)` from `desks` threads, each in a loop, and times the
/// calls that begin within `phase` once the desks are warm: after [`WARM_UP`],
/// and after each desk has finished a call. The clock starts while the desks
/// keep going. The calls counted are those that began in the phase, over the
/// phase's length. A desk stops early when `op` has nothing left to do
/// (`None`: the slots or appointments written for the row ran out), and the
/// row is then measured up to the last desk's stop; a row that ran out before
/// its clock started is an error, not a row of zeros.
///
/// A desk keeps its sessions all day; a phase's handle opens new ones. A new
/// session's first calls load what the server caches per session (the
/// functions compiled, their plans), and its server process is new. With a
/// 250 ms warm-up, every call over 90 ms in the 32-desk rows (up to 270 ms,
/// against 30–50 ms at p99) began in its phase's first half second; with a
/// second, they no longer gather there. Two seconds, since each row starts
/// just after a checkpoint ([`settle`]): the first write to each page after
/// one logs the whole page, and with a one-second warm-up calls of up to
/// 112 ms gathered in the clock's first second. Nor do desks start in step: an
/// earlier version held them at a barrier after the warm-up and let them go
/// together, all sending in the same instant after a pause.
fn measure<C: Send + Sync + 'static>(
    clinic: &Arc<C>,
    desks: usize,
    phase: Duration,
    op: impl Fn(&C, usize) -> Option<Result<()>> + Send + Sync + 'static,
) -> Result<(Samples, Duration)> {
    use std::sync::atomic::{AtomicU64, AtomicUsize};
    let op = Arc::new(op);
    let base = Instant::now();
    // when the clock started, in ns after `base` (0: not yet), and how many
    // desks have finished a call
    let start = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..desks)
        .map(|desk| {
            let (clinic, op) = (clinic.clone(), op.clone());
            let (start, running) = (start.clone(), running.clone());
            std::thread::spawn(move || -> Result<(Samples, Instant)> {
                let mut samples = Samples::default();
                let mut first = true;
                loop {
                    let since = start.load(Ordering::Acquire);
                    let t = Instant::now();
                    let timed = since != 0;
                    let end = base + Duration::from_nanos(since) + phase;
                    if timed && t >= end {
                        return Ok((samples, end));
                    }
                    // (a desk that panics stops as one that runs out does, so
                    // the others are not left waiting for it)
                    let call = std::panic::catch_unwind(AssertUnwindSafe(|| op(&clinic, desk)));
                    // (a desk that stops before the clock started lets the
                    // others start it)
                    if first {
                        first = false;
                        running.fetch_add(1, Ordering::AcqRel);
                    }
                    let Ok(call) = call else {
                        return Err(Error::Internal("a bench desk panicked".into()));
                    };
                    let Some(r) = call else {
                        return Ok((samples, t));
                    };
                    if timed {
                        samples.outcome(t, &r);
                    }
                    if !timed
                        && base.elapsed() >= WARM_UP
                        && running.load(Ordering::Acquire) == desks
                    {
                        let now = base.elapsed().as_nanos() as u64;
                        let _ = start.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
                    }
                }
            })
        })
        .collect();
    // every desk joined before an error is answered: none left running
    let ended: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    let mut all = Samples::default();
    let mut stopped = base;
    for desk in ended {
        let (samples, at) =
            desk.map_err(|_| Error::Internal("a bench thread panicked".into()))??;
        all.merge(samples);
        stopped = stopped.max(at);
    }
    match start.load(Ordering::Acquire) {
        0 => Err(Error::Internal(
            "a bench row ran out of slots or appointments before its clock started".into(),
        )),
        since => {
            let started = base + Duration::from_nanos(since);
            Ok((all, stopped.saturating_duration_since(started).min(phase)))
        }
    }
}

/// A new handle on the bench database: its contention figures cover one run.
fn fresh(db: &BenchDb) -> Result<Arc<PgClinic>> {
    Ok(Arc::new(PgClinic::connect(&db.url, 40)?))
}

/// Attaches the lock-hold percentiles of `op` from the run's figures.
fn with_hold(mut row: BenchRow, run: &PgClinic, op: &str) -> BenchRow {
    if let Some(m) = run.metrics().get(op) {
        row.hold_p50_us = Some(m.lock_hold.p50_us);
        row.hold_p99_us = Some(m.lock_hold.p99_us);
    }
    row
}

/// The classic booking: five round trips in a client-side transaction, the
/// same rows written as `fd_book` writes.
fn classic_book(c: &PgClinic, slot: i64, patient: i64) -> Result<()> {
    let mut s: Session = c.session()?;
    let mut tx = s.transaction().map_err(server_error)?;
    let row = tx
        .query_opt(
            "SELECT doctor_id, blocked, end_at FROM slot WHERE id = $1 FOR UPDATE",
            &[&slot],
        )
        .map_err(server_error)?
        .ok_or(Error::NotFound("slot"))?;
    let (doctor, blocked, end_at): (i64, bool, i64) = (row.get(0), row.get(1), row.get(2));
    let live: i64 = tx
        .query_one(
            "SELECT count(*) FROM appointment WHERE slot_id = $1 AND status <> 'CANCELLED' AND NOT overbooked",
            &[&slot],
        )
        .map_err(server_error)?
        .get(0);
    if blocked || end_at <= NOW || live > 0 {
        return Err(Error::SlotTaken);
    }
    // "mark the slot booked" (the classic schema kept a flag on the slot)
    tx.execute(
        "UPDATE slot SET created_at = created_at WHERE id = $1",
        &[&slot],
    )
    .map_err(server_error)?;
    tx.execute(
        "WITH a AS (
             INSERT INTO appointment (slot_id, doctor_id, patient_id, status, created_by, created_at, updated_by, updated_at)
             VALUES ($1, $2, $3, 'PENDING', 'bench', $4, 'bench', $4) RETURNING id),
         h AS (INSERT INTO appointment_status_history (appointment_id, to_status, to_slot_id, actor, at)
               SELECT id, 'PENDING', $1, 'bench', $4 FROM a)
         INSERT INTO audit_event (at, actor, action, entity, entity_id) SELECT $4, 'bench', 'appointment.book', 'appointment', id FROM a",
        &[&slot, &doctor, &patient, &NOW],
    )
    .map_err(server_error)?;
    tx.commit().map_err(server_error)
}

/// Pending appointments written in bulk in `slots` (a run of consecutive
/// ids), for the status rows; with `deposit`, each charged 50.00 with 20.00 paid (numbered
/// receipts after the year's last), so that cancelling it refunds. Their ids.
fn pending(clinic: &PgClinic, slots: &[i64], patient: i64, deposit: bool) -> Result<Vec<i64>> {
    let (Some(&first), Some(&last)) = (slots.first(), slots.last()) else {
        return Ok(Vec::new());
    };
    let rows = clinic
        .session()?
        .query(
            "WITH a AS (
                 INSERT INTO appointment (slot_id, doctor_id, patient_id, status, created_by, created_at, updated_by, updated_at)
                 SELECT id, doctor_id, $2, 'PENDING', 'bench', $3, 'bench', $3 FROM slot
                 WHERE id BETWEEN $1 AND $5 ORDER BY id RETURNING id),
             paid AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM a WHERE $4),
             last AS (SELECT coalesce(max(receipt_no), 0) AS n FROM ledger WHERE receipt_year = 2030),
             charge AS (
                 INSERT INTO ledger (appointment_id, patient_id, kind, amount_minor, currency, reason, desk, created_by, created_at, day)
                 SELECT id, $2, 'CHARGE', 5000, 'EUR', 'Check-up', 'bench', 'bench', $3, '2030-01-07' FROM paid),
             payment AS (
                 INSERT INTO ledger (appointment_id, patient_id, kind, amount_minor, currency, method, receipt_year, receipt_no,
                                     desk, created_by, created_at, day)
                 SELECT id, $2, 'PAYMENT', 2000, 'EUR', 'CASH', 2030, last.n + k, 'bench', 'bench', $3, '2030-01-07'
                 FROM paid, last)
             SELECT id FROM a ORDER BY id",
            &[&first, &patient, &NOW, &deposit, &last],
        )
        .map_err(server_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Before each row, untimed: a checkpoint (needs the server's superuser or
/// pg_checkpoint; skipped otherwise), then, as pgbench does before its runs,
/// every table vacuumed (the bulk writes' hint bits set, the planner's
/// statistics made, what the last row wrote cleaned up; the pages the vacuum
/// writes log their full images here, not in the row). Without it, the
/// server's autovacuum, woken each minute, and a checkpoint set off by the
/// WAL that the earlier rows wrote (a run writes gigabytes) landed in the
/// measured phases at random and cleaned up after the rows before: a run's
/// worst requests at 32 desks (83 and 89 ms against a p99 of 35–45 ms) came in
/// the seconds when the autovacuum of the audit and history tables, or such a
/// checkpoint, ran beside them. What each row leaves it pays for before the
/// next one, not in the middle of some other row.
/// Both are free of the sessions' statement timeout, which a vacuum of the
/// grown clinic may outlast.
fn settle(clinic: &PgClinic) -> Result<()> {
    let mut s = clinic.session()?;
    s.batch_execute("SET statement_timeout = 0")
        .map_err(server_error)?;
    let settled = match s.batch_execute("CHECKPOINT") {
        Err(e) if e.code() != Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Err(server_error(e)),
        _ => s.batch_execute("VACUUM ANALYZE").map_err(server_error),
    };
    // (the pooled session goes back to its own timeout)
    s.batch_execute("RESET statement_timeout")
        .map_err(server_error)?;
    settled
}

/// One row: the server settled ([`settle`]), then [`measure`]d.
fn settled<C: Send + Sync + 'static>(
    server: &PgClinic,
    on: &Arc<C>,
    desks: usize,
    phase: Duration,
    op: impl Fn(&C, usize) -> Option<Result<()>> + Send + Sync + 'static,
) -> Result<(Samples, Duration)> {
    settle(server)?;
    measure(on, desks, phase, op)
}

/// The bench clinic's free slots: each booking and each pending appointment
/// takes the next one. Slots are added in chunks between the timed phases,
/// never while a clock runs.
struct Slots {
    clinic: Arc<PgClinic>,
    doctor: i64,
    /// The next free slot's id.
    next: i64,
    /// The first slot id not yet written.
    written: i64,
    /// When the next chunk's first slot starts.
    next_start: i64,
}

impl Slots {
    /// Back-to-back 5-minute slots, written 100,000 to a statement (each
    /// statement stays well inside the sessions' statement_timeout).
    const CHUNK: i64 = 100_000;

    fn new(clinic: Arc<PgClinic>, doctor: i64) -> Result<Slots> {
        let first = clinic.add_slots(doctor, NOW + 3600, 5, Self::CHUNK, NOW)?[0];
        Ok(Slots {
            clinic,
            doctor,
            next: first,
            written: first + Self::CHUNK,
            next_start: NOW + 3600 + Self::CHUNK * 300,
        })
    }

    /// Makes sure `n` more slots are free.
    fn room(&mut self, n: i64) -> Result<()> {
        if self.written - self.next >= n {
            return Ok(());
        }
        while self.written - self.next < n {
            let ids = self
                .clinic
                .add_slots(self.doctor, self.next_start, 5, Self::CHUNK, NOW)?;
            if ids.first() != Some(&self.written) {
                return Err(Error::Internal(
                    "the bench's slots are not contiguous".into(),
                ));
            }
            self.written += Self::CHUNK;
            self.next_start += Self::CHUNK * 300;
        }
        Ok(())
    }

    /// `n` free slots, in order.
    fn take(&mut self, n: i64) -> Result<Arc<Queue>> {
        self.room(n)?;
        self.next += n;
        Ok(Queue::new((self.next - n..self.next).collect()))
    }
}

/// What one row works through, each once, in order: free slots to book, or
/// pending appointments to change.
struct Queue {
    ids: Vec<i64>,
    next: std::sync::atomic::AtomicUsize,
}

impl Queue {
    fn new(ids: Vec<i64>) -> Arc<Queue> {
        Arc::new(Queue {
            ids,
            next: Default::default(),
        })
    }

    fn take(&self) -> Option<i64> {
        self.ids
            .get(self.next.fetch_add(1, Ordering::Relaxed))
            .copied()
    }
}

/// The rows and targets of the server run.
pub(super) fn rows(
    url: &str,
    opts: &BenchOptions,
    progress: &dyn Fn(&str),
) -> Result<(Vec<BenchRow>, Vec<Target>)> {
    let phase = if opts.quick {
        Duration::from_millis(800)
    } else {
        Duration::from_secs(5)
    };
    progress("PostgreSQL: a fresh bench database and its clinic");
    let db = create(url)?;
    let clinic = db.clinic.clone();
    let doctor = clinic.add_doctor("Dr. Bench", NOW)?;
    let mut slots = Slots::new(clinic.clone(), doctor)?;
    slots.room(if opts.quick { 100_000 } else { 500_000 })?;
    let patient = clinic.add_patient("Bench Patient", "+4915100000000", NOW)?;

    let mut rows = Vec::new();
    let mut floors = Vec::new();
    for desks in DESKS {
        progress(&format!(
            "PostgreSQL, {desks} desk(s): floor, classic booking, fd_book, status change, passcode"
        ));
        let (s, took) = settled(&clinic, &clinic, desks, phase, |c, desk| {
            Some(c.session().and_then(|mut s| {
                s.execute(
                    "UPDATE bench_floor SET n = n + 1 WHERE id = $1",
                    &[&(desk as i32)],
                )
                .map(|_| ())
                .map_err(server_error)
            }))
        })?;
        let floor = s.row(
            &format!("pg floor: one-row UPDATE per transaction, {desks} desk(s)"),
            took,
        );
        floors.push(floor.ops_per_sec);
        let floor_rate = floor.ops_per_sec;
        // the slots or appointments written for each row of this desk count,
        // from what the floor's one-row writes managed in a phase and its
        // warm-up: at 8 and 32 desks, where the machine's cores are the limit,
        // every row here runs at under 0.6 × the floor, and twice is ample; at
        // 1 desk every write waits for the disk, whose pace moved up to
        // 2.7-fold between one phase and the next on this machine: four times
        // (a row that still runs out ends early)
        let times = if desks == 1 { 4.0 } else { 2.0 };
        let most = (floor.ops as f64 * times * (phase + WARM_UP).as_secs_f64()
            / phase.as_secs_f64()) as i64
            + 500;
        rows.push(floor);

        let free = slots.take(most)?;
        let (s, took) = settled(&clinic, &clinic, desks, phase, move |c, _| {
            Some(classic_book(c, free.take()?, patient))
        })?;
        rows.push(s.row(&format!("pg classic booking (client-side SELECT … FOR UPDATE, 5 round trips), {desks} desk(s)"), took));

        let free = slots.take(most)?;
        let run = fresh(&db)?;
        let (s, took) = settled(&clinic, &run, desks, phase, move |c, desk| {
            Some(
                c.book(free.take()?, patient, "", &format!("desk-{desk}"), NOW)
                    .map(|_| ()),
            )
        })?;
        rows.push(with_hold(
            s.row(
                &format!("pg book (fd_book, the row read back: one round trip), {desks} desk(s)"),
                took,
            ),
            &run,
            "book",
        ));

        // what a desk does: the booking service (permission and reason checked
        // on the desk, then fd_book with the appointment read back)
        let free = slots.take(most)?;
        let desk = Arc::new(frontdesk::Frontdesk::open(
            &db.url,
            frontdesk::OpenOptions {
                pool_size: desks as u32,
                ..frontdesk::OpenOptions::default()
            },
        )?);
        let actor = frontdesk::Actor::local_admin();
        let (status_desk, status_actor) = (desk.clone(), actor.clone());
        let (s, took) = settled(&clinic, &clinic, desks, phase, move |_, _| {
            let request = frontdesk::BookRequest {
                slot_id: free.take()?,
                patient_id: patient,
                reason: String::new(),
            };
            Some(desk.book(&actor, &request).map(|_| ()))
        })?;
        rows.push(s.row(
            &format!("pg desk booking (the booking service: permission, reason, fd_book), {desks} desk(s)"),
            took,
        ));

        // pending appointments for each status row, written in bulk before it
        let mut queue = |n: i64, deposit: bool| -> Result<Arc<Queue>> {
            let ids = pending(&clinic, &slots.take(n)?.ids, patient, deposit)?;
            Ok(Queue::new(ids))
        };
        let ids = queue(most, false)?;
        let run = fresh(&db)?;
        let (s, took) = settled(&clinic, &run, desks, phase, move |c, desk| {
            Some(
                c.change_status(
                    ids.take()?,
                    1,
                    AppointmentStatus::Confirmed,
                    "",
                    &format!("desk-{desk}"),
                    NOW,
                )
                .map(|_| ()),
            )
        })?;
        rows.push(with_hold(
            s.row(
                &format!("pg status change (fd_change_status, the row read back: one round trip), {desks} desk(s)"),
                took,
            ),
            &run,
            "status",
        ));
        // what a desk does: the status service. A confirmation (permission and
        // note checked on the desk, then fd_change_status); a cancellation of an
        // appointment with nothing paid (the same, fd_change_status finding no
        // ledger row to settle); a cancellation that refunds a deposit (the
        // same checks, then one SERIALIZABLE transaction in turns: state
        // machine, version, the refund by the cancellation policy and its
        // receipt number, history, audit, retried inside)
        for (to, note, label, deposit) in [
            (
                AppointmentStatus::Confirmed,
                "",
                "pg desk confirmation (the status service: permission, note, fd_change_status)",
                false,
            ),
            (
                AppointmentStatus::Cancelled,
                "bench",
                "pg desk cancellation, nothing paid (the status service: fd_change_status finds no ledger row)",
                false,
            ),
            (
                AppointmentStatus::Cancelled,
                "bench",
                "pg desk cancellation refunding a deposit (SERIALIZABLE, in turns: refund, receipt, history, audit)",
                true,
            ),
        ] {
            // (the refunding cancellations run at a tenth of the others' pace
            // or less: a quarter leaves room)
            let ids = queue(if deposit { most / 4 } else { most }, deposit)?;
            let (desk, actor) = (status_desk.clone(), status_actor.clone());
            let (s, took) = settled(&clinic, &clinic, desks, phase, move |_, _| {
                Some(desk.change_status(&actor, ids.take()?, 1, to, note).map(|_| ()))
            })?;
            rows.push(s.row(&format!("{label}, {desks} desk(s)"), took));
        }
        let phones = Arc::new(AtomicI64::new(desks as i64 * 10_000_000));
        let run = fresh(&db)?;
        let (s, took) = settled(&clinic, &run, desks, phase, move |c, _| {
            let n = phones.fetch_add(1, Ordering::Relaxed);
            let phone = format!("+49152{n:08}");
            Some(
                c.request_passcode(&PasscodeIssue {
                    phone: &phone,
                    desk: &phone,
                    code_hash: "$argon2id$bench",
                    body: "Your passcode is 123456.",
                    token: "bench",
                    actor: "bench",
                    now: NOW,
                })
                .map(|_| ()),
            )
        })?;
        rows.push(with_hold(
            s.row(
                &format!("pg passcode request (fd_request_passcode: locks, limits, upsert in one round trip), {desks} desk(s)"),
                took,
            ),
            &run,
            "otp.request",
        ));
        let n = rows.len();
        for r in &mut rows[n - 9..] {
            r.vs_floor = Some(r.ops_per_sec / floor_rate.max(1e-9));
        }
    }
    let targets = targets(&rows);
    Ok((rows, targets))
}

fn find<'a>(rows: &'a [BenchRow], prefix: &str, desks: usize) -> Option<&'a BenchRow> {
    let suffix = format!(", {desks} desk(s)");
    rows.iter()
        .find(|r| r.operation.starts_with(prefix) && r.operation.ends_with(&suffix))
}

fn targets(rows: &[BenchRow]) -> Vec<Target> {
    let mut out = Vec::new();
    for ((desks, times), (prefix, what)) in [(1, 2.0), (32, 1.0)].into_iter().flat_map(|d| {
        [
            (d, ("pg book", "fd_book")),
            (d, ("pg desk booking", "desk booking")),
        ]
    }) {
        if let (Some(book), Some(classic)) = (
            find(rows, prefix, desks),
            find(rows, "pg classic booking", desks),
        ) {
            let ratio = book.ops_per_sec / classic.ops_per_sec.max(1e-9);
            out.push(Target {
                goal: format!(
                    "PostgreSQL {what} ≥ {times} × the classic booking at {desks} desk(s)"
                ),
                measured: format!(
                    "{:.0} vs {:.0} booked/s = {ratio:.2} ×",
                    book.ops_per_sec, classic.ops_per_sec
                ),
                met: ratio >= times,
            });
        }
    }
    // a cancellation that refunds is a payment too, and the money's
    // transactions take turns: its worst case is shown beside the target, not
    // in it
    let refunding = "pg desk cancellation refunding";
    let worst = rows
        .iter()
        .filter(|r| r.operation.starts_with("pg ") && r.operation.ends_with(", 32 desk(s)"))
        .filter(|r| {
            !r.operation.starts_with("pg floor")
                && !r.operation.starts_with("pg classic")
                && !r.operation.starts_with(refunding)
        })
        .map(|r| r.max_us)
        .max()
        .unwrap_or(0);
    let refund_worst = find(rows, refunding, 32).map_or(0, |r| r.max_us);
    // the floor's own worst case in the same phase: what the machine adds to
    // any write at that load (on 2 cores, 32 desks' threads share them with 32
    // server processes)
    let floor_worst = find(rows, "pg floor", 32).map_or(0, |r| r.max_us);
    out.push(Target {
        goal: "PostgreSQL worst case < 100 ms at 32 desks (booking, status, passcode)".into(),
        measured: format!(
            "{:.1} ms (the floor's own: {:.1} ms; a cancellation refunding a deposit: {:.1} ms)",
            worst as f64 / 1000.0,
            floor_worst as f64 / 1000.0,
            refund_worst as f64 / 1000.0
        ),
        met: worst < 100_000,
    });
    let failures: u64 = rows
        .iter()
        .filter(|r| r.operation.starts_with("pg "))
        .map(|r| r.busy + r.errors)
        .sum();
    out.push(Target {
        goal: "PostgreSQL: 0 failures surfaced to a desk".into(),
        measured: failures.to_string(),
        met: failures == 0,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const PHASE: Duration = Duration::from_millis(300);

    /// An op that answers `None` after `n` calls in all, across the desks.
    fn calls(n: usize) -> impl Fn(&(), usize) -> Option<Result<()>> + Send + Sync {
        let done = AtomicUsize::new(0);
        move |_, _| {
            (done.fetch_add(1, Ordering::Relaxed) < n).then(|| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
        }
    }

    #[test]
    fn a_row_that_runs_out_before_its_clock_starts_is_an_error_not_a_row_of_zeros() {
        let err = measure(&Arc::new(()), 4, PHASE, calls(10)).unwrap_err();
        assert!(
            err.to_string().contains("before its clock started"),
            "{err}"
        );
    }

    #[test]
    fn only_calls_after_the_warm_up_are_timed_over_the_phase() {
        let (s, took) = measure(&Arc::new(()), 4, PHASE, calls(usize::MAX)).unwrap();
        // four desks at about 1 ms a call: some 1,200 timed calls in the
        // phase, none of the warm-up's 8,000
        assert!(!s.lat.is_empty() && s.lat.len() < 2_000, "{}", s.lat.len());
        assert_eq!(took, PHASE);
    }

    #[test]
    fn a_row_that_runs_out_in_its_phase_is_measured_up_to_its_last_call() {
        // work for the warm-up and 200 ms more, in a phase of a second
        let until = Instant::now() + WARM_UP + Duration::from_millis(200);
        let (s, took) = measure(&Arc::new(()), 4, Duration::from_secs(1), move |_, _| {
            (Instant::now() < until).then(|| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
        })
        .unwrap();
        assert!(took < Duration::from_millis(500), "{took:?}");
        assert!(s.errors == 0 && !s.lat.is_empty());
    }

    #[test]
    fn a_desk_that_panics_fails_the_row_without_leaving_the_others_waiting() {
        let err = measure(&Arc::new(()), 4, PHASE, |_, desk| {
            assert_ne!(desk, 2, "desk 2 fails");
            std::thread::sleep(Duration::from_millis(1));
            Some(Ok(()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
