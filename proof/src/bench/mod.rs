//! `frontdesk bench`: how fast the desk's operations are, measured against the
//! cheapest durable write SQLite can do on the same machine.
//!
//! Everything runs on temporary database files opened the app's own way
//! ([`Frontdesk::open`]: WAL, `synchronous=FULL`). The **floor** is a one-row
//! `UPDATE` per `BEGIN IMMEDIATE … COMMIT` with raw rusqlite on a file with the same
//! pragmas, measured in the same run; each operation is reported as a multiple of
//! it. Contended runs book from many threads of one process (behind the FIFO gate),
//! from several processes (behind the lock file), and — for comparison — from raw
//! connections that rely on SQLite's busy handler alone. Reads are timed on a
//! generated clinic of 1,000,000 appointments and 100,000 patients.
//!
//! Latencies are measured around each call; lock-hold figures come from the
//! write path's own histograms (a fresh [`Frontdesk`] per run, so they cover that
//! run only; exact to ±9 %).

mod floor;
mod long_jobs;
mod passcodes;
mod postgres;
mod scale;
mod setup;
mod signin;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use frontdesk::error::{Error, ErrorCode, Result};
use frontdesk::{Actor, AppointmentStatus, BookRequest, Frontdesk};

pub use passcodes::code_in;
pub use worker::{run_worker, WorkerArgs, WorkerOutcome};

/// How to run the benchmark.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// Short runs and a scale clinic one tenth the size (for CI; under 30 s).
    pub quick: bool,
    /// The `frontdesk` executable to start worker processes with (`None`: skip
    /// the multi-process runs).
    pub worker_exe: Option<PathBuf>,
    /// Only the runs that book beside long jobs (slot generation, passcode
    /// delivery with a long reader): a focused measurement of those rows.
    pub long_jobs_only: bool,
    /// A PostgreSQL server (`postgres://…` of a role that may create databases)
    /// to add the server backend's rows from, measured in the same run.
    pub postgres: Option<String>,
    /// Only the server's rows (with `postgres`): measuring a server.
    pub postgres_only: bool,
}

impl BenchOptions {
    fn phase(&self) -> Duration {
        if self.quick {
            Duration::from_millis(800)
        } else {
            Duration::from_secs(8)
        }
    }

    fn single_ops(&self) -> usize {
        if self.quick {
            200
        } else {
            2000
        }
    }
}

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// What was measured.
    pub operation: String,
    /// Operations completed (including refusals such as "slot taken").
    pub ops: u64,
    /// Operations per second over the run.
    pub ops_per_sec: f64,
    /// Median latency (µs).
    pub p50_us: u64,
    /// 99th percentile latency (µs).
    pub p99_us: u64,
    /// Worst latency (µs).
    pub max_us: u64,
    /// Median time the write lock was held (µs), for writes.
    pub hold_p50_us: Option<u64>,
    /// 99th percentile lock hold (µs), for writes.
    pub hold_p99_us: Option<u64>,
    /// `ops_per_sec` divided by the floor's.
    pub vs_floor: Option<f64>,
    /// `Busy` errors (the lock stayed taken past the deadline): must be 0.
    pub busy: u64,
    /// Refusals by a rule (slot taken, stale version) — expected under contention.
    pub refused: u64,
    /// Any other error.
    pub errors: u64,
    /// For reads: 99th percentile of the thread's CPU time per call (µs). Far below
    /// `p99_us` means the tail is waiting for a CPU, not work.
    pub cpu_p99_us: Option<u64>,
    /// A comparison run without Frontdesk's write path (SQLite's busy handler
    /// alone): its `Busy` errors are what the write path prevents, so they do not
    /// fail the run (its other errors do).
    pub baseline: bool,
}

/// One target from the issue, met or missed.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target in words.
    pub goal: String,
    /// The figure measured.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Quick mode.
    pub quick: bool,
    /// CPU cores seen.
    pub cores: usize,
    /// Appointments and patients in the scale clinic.
    pub scale_appointments: u64,
    /// Patients in the scale clinic.
    pub scale_patients: u64,
    /// Seconds it took to generate the scale clinic.
    pub scale_generation_secs: f64,
    /// The measurements.
    pub rows: Vec<BenchRow>,
    /// The targets.
    pub targets: Vec<Target>,
    /// Seconds the whole run took.
    pub total_secs: f64,
    /// `Busy` or other errors that reached a caller (see [`surfaced`]); the CLI
    /// exits non-zero when there are any. Speed never fails a run.
    pub surfaced: Vec<String>,
}

/// Every row that surfaced an error to its caller: a `Busy` (the deadline passed
/// waiting for the lock) outside a baseline row, or any other error.
pub fn surfaced(rows: &[BenchRow]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        if r.busy > 0 && !r.baseline {
            out.push(format!("{}: {} Busy", r.operation, r.busy));
        }
        if r.errors > 0 {
            out.push(format!("{}: {} errors", r.operation, r.errors));
        }
    }
    out
}

/// Latencies of one run, in microseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    lat: Vec<u64>,
    busy: u64,
    refused: u64,
    errors: u64,
}

impl Samples {
    fn outcome<T>(&mut self, started: Instant, r: &Result<T>) {
        self.lat.push(started.elapsed().as_micros() as u64);
        match r {
            Ok(_) => {}
            Err(e) => match e.code() {
                ErrorCode::Busy => self.busy += 1,
                ErrorCode::SlotTaken | ErrorCode::Conflict | ErrorCode::RateLimited => {
                    self.refused += 1
                }
                _ => self.errors += 1,
            },
        }
    }

    fn merge(&mut self, o: Samples) {
        self.lat.extend(o.lat);
        self.busy += o.busy;
        self.refused += o.refused;
        self.errors += o.errors;
    }

    fn row(mut self, operation: &str, elapsed: Duration) -> BenchRow {
        self.lat.sort_unstable();
        let pick = |q: f64| -> u64 {
            if self.lat.is_empty() {
                return 0;
            }
            let rank = ((self.lat.len() as f64 * q).ceil() as usize).clamp(1, self.lat.len());
            self.lat[rank - 1]
        };
        let ops = self.lat.len() as u64;
        BenchRow {
            operation: operation.to_string(),
            ops,
            ops_per_sec: ops as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            max_us: self.lat.last().copied().unwrap_or(0),
            hold_p50_us: None,
            hold_p99_us: None,
            vs_floor: None,
            busy: self.busy,
            refused: self.refused,
            errors: self.errors,
            cpu_p99_us: None,
            baseline: false,
        }
    }
}

/// Attaches the lock-hold percentiles of `op` from a desk's metrics.
fn with_hold(mut row: BenchRow, desk: &Frontdesk, op: &str) -> BenchRow {
    if let Ok(Some(m)) = desk.metrics().map(|s| s.get(op).cloned()) {
        row.hold_p50_us = Some(m.lock_hold.p50_us);
        row.hold_p99_us = Some(m.lock_hold.p99_us);
    }
    row
}

/// Runs the whole benchmark in a temporary folder and returns the figures.
/// `progress` is told what runs next (the CLI prints it on stderr).
pub fn run(opts: &BenchOptions, progress: &dyn Fn(&str)) -> Result<BenchReport> {
    let started = Instant::now();
    let dir = temp_dir("bench")?;
    let mut rows = Vec::new();
    // the focused runs: some rows only, no scale clinic
    let part = |rows: Vec<BenchRow>, targets| BenchReport {
        quick: opts.quick,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        scale_appointments: 0,
        scale_patients: 0,
        scale_generation_secs: 0.0,
        surfaced: surfaced(&rows),
        rows,
        targets,
        total_secs: started.elapsed().as_secs_f64(),
    };
    if let (Some(url), true) = (&opts.postgres, opts.postgres_only) {
        let (rows, targets) = postgres::rows(url, opts, progress)?;
        return Ok(part(rows, targets));
    }
    if opts.long_jobs_only {
        rows.extend(long_jobs_rows(&dir, opts, progress)?);
        let targets = long_jobs_targets(&rows);
        return Ok(part(rows, targets));
    }

    progress("floor: raw UPDATE per BEGIN IMMEDIATE … COMMIT, on a plain and an encrypted file");
    let floors = [
        floor::Floor::open(&dir.path.join("floor.sqlite3"), false)?,
        floor::Floor::open(&dir.path.join("floor-encrypted.sqlite3"), true)?,
    ];
    rows.push(floor::fdatasync(
        &dir.path.join("fsync.bin"),
        if opts.quick { 100 } else { 500 },
    )?);

    progress("single-threaded operations");
    let clinic = setup::BenchClinic::create(
        &dir.path.join("ops.sqlite3"),
        if opts.quick { 60_000 } else { 600_000 },
    )?;
    let (floor_rows, single) = single_threaded(&clinic, &floors, opts)?;
    let floor_rate = floor_rows[0].ops_per_sec;
    rows.splice(0..0, floor_rows);
    rows.extend(single);
    progress("single-threaded booking and status change on a plain database");
    rows.extend(plain_database(
        &dir.path.join("plain.sqlite3"),
        opts.single_ops(),
    )?);
    rows.push(floor::booking_body(&clinic, opts.single_ops())?);
    progress("sign-in checks: wrong password and unknown username");
    rows.extend(signin::checks(opts.quick)?);

    for threads in [8, 32] {
        progress(&format!("{threads} threads, distinct slots"));
        rows.push(threads_distinct(&clinic, threads, opts.phase())?);
        progress(&format!("{threads} threads, one slot"));
        rows.push(threads_one_slot(&clinic, threads, opts.phase())?);
    }
    progress("32 threads, distinct slots, SQLite busy handler only");
    rows.push(floor::busy_handler_only(&clinic, 32, opts.phase())?);

    if let Some(exe) = &opts.worker_exe {
        for (processes, threads) in [(4, 1), (4, 4), (8, 4)] {
            progress(&format!(
                "{processes} processes × {threads} threads, distinct slots"
            ));
            rows.push(worker::processes(
                exe,
                &clinic,
                processes,
                threads,
                opts.phase(),
            )?);
        }
    }
    drop(clinic);

    rows.extend(long_jobs_rows(&dir, opts, progress)?);

    let (appointments, patients) = if opts.quick {
        (100_000, 10_000)
    } else {
        (1_000_000, 100_000)
    };
    progress(&format!(
        "generating a clinic of {appointments} appointments and {patients} patients"
    ));
    let (scale_rows, generation) = scale::run(
        &dir.path.join("scale.sqlite3"),
        appointments,
        patients,
        opts.quick,
    )?;
    rows.extend(scale_rows);

    for r in rows.iter_mut() {
        r.vs_floor = Some(r.ops_per_sec / floor_rate.max(1e-9));
    }
    let mut targets = targets(&rows, appointments);
    if let Some(url) = &opts.postgres {
        let (pg_rows, pg_targets) = postgres::rows(url, opts, progress)?;
        rows.extend(pg_rows);
        targets.extend(pg_targets);
    }
    Ok(BenchReport {
        quick: opts.quick,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        scale_appointments: appointments,
        scale_patients: patients,
        scale_generation_secs: generation.as_secs_f64(),
        surfaced: surfaced(&rows),
        rows,
        targets,
        total_secs: started.elapsed().as_secs_f64(),
    })
}

/// Booking beside a year of slot generation, and beside passcode delivery with a
/// long read transaction open.
fn long_jobs_rows(
    dir: &TempDir,
    opts: &BenchOptions,
    progress: &dyn Fn(&str),
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    let clinic = long_jobs::clinic(&dir.path, opts.quick)?;
    progress("booking while slots for 20 doctors are generated");
    rows.extend(long_jobs::during_generation(&clinic, opts.quick)?);
    progress("booking while a read transaction is open and passcodes are delivered");
    rows.extend(long_jobs::during_delivery(
        &clinic,
        if opts.quick {
            Duration::from_millis(300)
        } else {
            opts.phase()
        },
    )?);
    Ok(rows)
}

/// The two floors' row names, plain first (the reference of every "× floor").
const FLOOR_ROWS: [&str; 2] = [
    "FLOOR: raw UPDATE, BEGIN IMMEDIATE … COMMIT",
    "FLOOR, encrypted file: raw UPDATE, BEGIN IMMEDIATE … COMMIT",
];

/// The row names of the plain database's booking and status change.
const PLAIN_BOOK: &str = "book, plain (unencrypted) database";
const PLAIN_STATUS: &str = "status change (confirm), plain (unencrypted) database";

/// Book, status change, reschedule, passcodes, search and day view, one at a time,
/// on the (encrypted) clinic. Returns the floors' rows too: they are sampled in
/// blocks between the bookings.
fn single_threaded(
    clinic: &setup::BenchClinic,
    floors: &[floor::Floor; 2],
    opts: &BenchOptions,
) -> Result<(Vec<BenchRow>, Vec<BenchRow>)> {
    let n = opts.single_ops();
    let actor = Actor::local_admin();
    let mut out = Vec::new();
    let desk = clinic.open()?;
    let mut booked = Vec::with_capacity(n);
    let mut s = Samples::default();
    let mut floor_samples = [Samples::default(), Samples::default()];
    for i in 0..n {
        if i % (n / 10).max(1) == 0 {
            for (floor, samples) in floors.iter().zip(floor_samples.iter_mut()) {
                floor.sample((n / 10).max(1), samples)?;
            }
        }
        booked.push(book_next(&desk, clinic, i, &mut s)?);
    }
    let booking_time = Duration::from_micros(s.lat.iter().sum());
    out.push(with_hold(s.row("book", booking_time), &desk, "book"));
    out.push(confirm_each(clinic, &booked, "status change (confirm)")?);
    out.push(pay_and_book(clinic, n)?);

    let desk = clinic.open()?;
    let mut s = Samples::default();
    let t = Instant::now();
    for &id in &booked {
        let to = clinic.take_slot()?;
        let at = Instant::now();
        let r = desk.reschedule(&actor, id, 2, to);
        s.outcome(at, &r);
        r?;
    }
    out.push(with_hold(
        s.row("reschedule", t.elapsed()),
        &desk,
        "reschedule",
    ));

    out.extend(passcodes::passcodes(clinic, opts.quick)?);

    let desk = clinic.open()?;
    let reads = if opts.quick { 200 } else { 1000 };
    out.push(timed_reads(
        "patient search, name (1,000 patients)",
        reads,
        |i| {
            desk.search_patients(
                &actor,
                setup::NAME_QUERIES[i % setup::NAME_QUERIES.len()],
                20,
            )
            .map(|_| ())
        },
    ));
    let date = clinic.first_day;
    out.push(timed_reads("day view, one doctor", reads, |_| {
        desk.day_view(&actor, date, Some(clinic.doctors[0]))
            .map(|_| ())
    }));
    out.push(timed_reads("day view, whole clinic", reads, |_| {
        desk.day_view(&actor, date, None).map(|_| ())
    }));
    let [plain, encrypted] = floor_samples;
    Ok((
        vec![
            floor::Floor::row(plain, FLOOR_ROWS[0]),
            floor::Floor::row(encrypted, FLOOR_ROWS[1]),
        ],
        out,
    ))
}

/// Booking and status change one at a time on a plain database: what encryption
/// costs, next to the encrypted clinic's rows.
fn plain_database(path: &std::path::Path, n: usize) -> Result<Vec<BenchRow>> {
    let clinic = setup::BenchClinic::create_with(path, n as i64, false)?;
    let desk = clinic.open()?;
    let mut s = Samples::default();
    let t = Instant::now();
    let booked = (0..n)
        .map(|i| book_next(&desk, &clinic, i, &mut s))
        .collect::<Result<Vec<_>>>()?;
    let book = with_hold(s.row(PLAIN_BOOK, t.elapsed()), &desk, "book");
    Ok(vec![book, confirm_each(&clinic, &booked, PLAIN_STATUS)?])
}

/// The name of the pay-and-book row.
const PAY_AND_BOOK: &str = "pay-and-book (charge + cash deposit)";

/// Books `n` slots as a priced type with a cash deposit, one at a time: the
/// booking, its charge and the payment with its receipt number in one transaction.
fn pay_and_book(clinic: &setup::BenchClinic, n: usize) -> Result<BenchRow> {
    let desk = clinic.open()?;
    let actor = Actor::local_admin();
    let kind = desk.add_appointment_type(
        &actor,
        &frontdesk::NewAppointmentType {
            name: "Bench check-up".into(),
            price_minor: 4500,
            default_reason: String::new(),
        },
    )?;
    let deposit = frontdesk::NewPayment {
        amount_minor: 2000,
        method: frontdesk::domain::payments::PaymentMethod::Cash,
        reference: String::new(),
    };
    let mut s = Samples::default();
    let t = Instant::now();
    for i in 0..n {
        let req = BookRequest {
            slot_id: clinic.take_slot()?,
            patient_id: clinic.patient(i),
            reason: String::new(),
        };
        let at = Instant::now();
        let r = desk.pay_and_book(&actor, &req, Some(kind.id), Some(&deposit));
        s.outcome(at, &r);
        r?;
    }
    Ok(with_hold(
        s.row(PAY_AND_BOOK, t.elapsed()),
        &desk,
        "pay_and_book",
    ))
}

/// Books the clinic's next free slot for its patient `i`, timed into `s`.
fn book_next(
    desk: &Frontdesk,
    clinic: &setup::BenchClinic,
    i: usize,
    s: &mut Samples,
) -> Result<i64> {
    let req = BookRequest {
        slot_id: clinic.take_slot()?,
        patient_id: clinic.patient(i),
        reason: String::new(),
    };
    let at = Instant::now();
    let r = desk.book(&Actor::local_admin(), &req);
    s.outcome(at, &r);
    Ok(r?.id)
}

/// Confirms each of `booked` one at a time on a fresh handle: the row `name`.
fn confirm_each(clinic: &setup::BenchClinic, booked: &[i64], name: &str) -> Result<BenchRow> {
    let desk = clinic.open()?;
    let actor = Actor::local_admin();
    let mut s = Samples::default();
    let t = Instant::now();
    for &id in booked {
        let at = Instant::now();
        let r = desk.change_status(&actor, id, 1, AppointmentStatus::Confirmed, "");
        s.outcome(at, &r);
        r?;
    }
    Ok(with_hold(s.row(name, t.elapsed()), &desk, "status"))
}

/// CPU time this thread has used, in µs.
fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// Times `n` calls of a read (wall clock and the thread's CPU time).
pub(crate) fn timed_reads(
    name: &str,
    n: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> BenchRow {
    let mut s = Samples::default();
    let mut cpu = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let at = Instant::now();
        let cpu_at = thread_cpu_us();
        let r = f(i);
        cpu.push(thread_cpu_us().saturating_sub(cpu_at));
        s.outcome(at, &r);
    }
    let mut row = s.row(name, t.elapsed());
    cpu.sort_unstable();
    row.cpu_p99_us = cpu.get((cpu.len() * 99).div_ceil(100).max(1) - 1).copied();
    row
}

/// `threads` threads of one process booking distinct slots for `phase`.
fn threads_distinct(
    clinic: &setup::BenchClinic,
    threads: usize,
    phase: Duration,
) -> Result<BenchRow> {
    let desk = clinic.open()?;
    let actor = Actor::local_admin();
    let all = Mutex::new(Samples::default());
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..threads {
            let (desk, actor, all) = (&desk, &actor, &all);
            sc.spawn(move || {
                let mut s = Samples::default();
                let mut i = th;
                while t.elapsed() < phase {
                    let Ok(slot_id) = clinic.take_slot() else {
                        break;
                    };
                    let req = BookRequest {
                        slot_id,
                        patient_id: clinic.patient(i),
                        reason: String::new(),
                    };
                    let at = Instant::now();
                    let r = desk.book(actor, &req);
                    s.outcome(at, &r);
                    i += threads;
                }
                all.lock().unwrap_or_else(|p| p.into_inner()).merge(s);
            });
        }
    });
    let s = all.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(with_hold(
        s.row(
            &format!("book, {threads} threads, distinct slots"),
            t.elapsed(),
        ),
        &desk,
        "book",
    ))
}

/// `threads` threads racing for one slot: book it, and whoever got it cancels it.
fn threads_one_slot(
    clinic: &setup::BenchClinic,
    threads: usize,
    phase: Duration,
) -> Result<BenchRow> {
    let desk = clinic.open()?;
    let actor = Actor::local_admin();
    let slot_id = clinic.take_slot()?;
    let all = Mutex::new(Samples::default());
    let booked = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..threads {
            let (desk, actor, all, booked) = (&desk, &actor, &all, &booked);
            sc.spawn(move || {
                let mut s = Samples::default();
                while t.elapsed() < phase {
                    let req = BookRequest {
                        slot_id,
                        patient_id: clinic.patient(th),
                        reason: String::new(),
                    };
                    let at = Instant::now();
                    let r = desk.book(actor, &req);
                    s.outcome(at, &r);
                    if let Ok(a) = r {
                        booked.fetch_add(1, Ordering::Relaxed);
                        let at = Instant::now();
                        let r = desk.change_status(
                            actor,
                            a.id,
                            a.version,
                            AppointmentStatus::Cancelled,
                            "bench",
                        );
                        s.outcome(at, &r);
                    }
                }
                all.lock().unwrap_or_else(|p| p.into_inner()).merge(s);
            });
        }
    });
    let s = all.into_inner().unwrap_or_else(|p| p.into_inner());
    let name = format!(
        "book+cancel, {threads} threads, one slot ({} won)",
        booked.into_inner()
    );
    Ok(with_hold(s.row(&name, t.elapsed()), &desk, "book"))
}

fn row<'a>(rows: &'a [BenchRow], prefix: &str) -> Option<&'a BenchRow> {
    rows.iter().find(|r| r.operation.starts_with(prefix))
}

/// Judges the figures against the targets.
fn targets(rows: &[BenchRow], appointments: u64) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |goal: &str, measured: String, met: bool| {
        out.push(Target {
            goal: goal.into(),
            measured,
            met,
        })
    };
    let book = row(rows, "book");
    if let Some(b) = book {
        let ratio = b.vs_floor.unwrap_or(0.0);
        add(
            "booking on the encrypted clinic ≥ 0.5 × the plain floor, single-threaded",
            format!("{ratio:.2} × plain floor ({:.0}/s)", b.ops_per_sec),
            ratio >= 0.5,
        );
        if let Some(p) = row(rows, PLAIN_BOOK) {
            add(
                "(context) what encryption costs a booking: encrypted ÷ plain booking rate",
                format!(
                    "{:.2} ({:.0}/s encrypted, {:.0}/s plain)",
                    b.ops_per_sec / p.ops_per_sec.max(1e-9),
                    b.ops_per_sec,
                    p.ops_per_sec
                ),
                true,
            );
        }
        if let Some(f) = row(rows, FLOOR_ROWS[1]) {
            add(
                "(context) what encryption costs the floor: encrypted ÷ plain floor",
                format!("{:.2}", f.vs_floor.unwrap_or(0.0)),
                true,
            );
        }
        if let Some(h) = b.hold_p99_us {
            add("lock hold p99 < 1 ms, booking", format!("{h} µs"), h < 1000);
        }
    }
    if let Some(p) = row(rows, PAY_AND_BOOK) {
        let ratio = p.vs_floor.unwrap_or(0.0);
        add(
            "pay-and-book on the encrypted clinic ≥ 0.5 × the plain floor, single-threaded",
            format!("{ratio:.2} × plain floor ({:.0}/s)", p.ops_per_sec),
            ratio >= 0.5,
        );
    }
    if let Some(b) = row(rows, "book, transaction body only") {
        add(
            "(context) booking's own work inside the lock, before COMMIT's fsync, p99 < 1 ms",
            format!("{} µs", b.p99_us),
            b.p99_us < 1000,
        );
    }
    if let Some(h) = row(rows, "status change").and_then(|r| r.hold_p99_us) {
        add(
            "lock hold p99 < 1 ms, status change",
            format!("{h} µs"),
            h < 1000,
        );
    }
    if let (Some(b), Some(c)) = (book, row(rows, "book, 32 threads, distinct")) {
        add(
            "32 threads distinct slots: throughput ≥ single-threaded booking",
            format!("{:.0}/s vs {:.0}/s", c.ops_per_sec, b.ops_per_sec),
            c.ops_per_sec >= b.ops_per_sec,
        );
        add(
            "32 threads distinct slots: p99 < 100 ms",
            format!("{:.1} ms", c.p99_us as f64 / 1000.0),
            c.p99_us < 100_000,
        );
    }
    for prefix in [
        "book, 32 threads, distinct",
        "book+cancel, 32 threads",
        "book, 8 processes × 4 threads",
    ] {
        if let Some(r) = row(rows, prefix) {
            add(
                &format!("{prefix}: zero Busy, worst case < 100 ms"),
                format!("{} Busy, worst {:.1} ms", r.busy, r.max_us as f64 / 1000.0),
                r.busy == 0 && r.errors == 0 && r.max_us < 100_000,
            );
        }
    }
    let scale = format!("{}k", appointments / 1000);
    if let Some(r) = row(rows, "day view, whole clinic, at") {
        add(
            &format!("day view, whole clinic-day < 5 ms at {scale}"),
            read_figures(r),
            r.p99_us < 5000,
        );
    }
    for prefix in [
        "patient search, name, at",
        "patient search, phone prefix, at",
    ] {
        if let Some(r) = row(rows, prefix) {
            add(
                &format!("{prefix} {scale}: < 10 ms"),
                read_figures(r),
                r.p99_us < 10_000,
            );
        }
    }
    out.extend(long_jobs_targets(rows));
    out
}

/// The targets of the rows that book beside long jobs.
fn long_jobs_targets(rows: &[BenchRow]) -> Vec<Target> {
    [long_jobs::BESIDE_GENERATION, long_jobs::BESIDE_DELIVERY]
        .into_iter()
        .filter_map(|prefix| {
            let r = row(rows, prefix)?;
            Some(Target {
                goal: format!("{prefix}: zero Busy, worst case < 100 ms"),
                measured: format!(
                    "{} Busy, p99 {:.1} ms, worst {:.1} ms",
                    r.busy,
                    r.p99_us as f64 / 1000.0,
                    r.max_us as f64 / 1000.0
                ),
                met: r.busy == 0 && r.errors == 0 && r.max_us < 100_000,
            })
        })
        .collect()
}

fn read_figures(r: &BenchRow) -> String {
    let ms = |v: u64| v as f64 / 1000.0;
    format!(
        "p99 {:.2} ms (p50 {:.2} ms, CPU time p99 {:.2} ms)",
        ms(r.p99_us),
        ms(r.p50_us),
        ms(r.cpu_p99_us.unwrap_or(0))
    )
}

/// The report as a markdown table (and the targets below it).
pub fn markdown(r: &BenchReport) -> String {
    let us = |v: u64| -> String {
        if v >= 10_000 {
            format!("{:.0} ms", v as f64 / 1000.0)
        } else if v >= 1000 {
            format!("{:.2} ms", v as f64 / 1000.0)
        } else {
            format!("{v} µs")
        }
    };
    let opt = |v: Option<u64>| v.map(us).unwrap_or_else(|| "–".into());
    let mut s = String::from(
        "| operation | ops | ops/s | p50 | p99 | max | CPU p99 | lock hold p50 | lock hold p99 | × floor | busy | refused | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in &r.rows {
        s.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.operation,
            row.ops,
            row.ops_per_sec,
            us(row.p50_us),
            us(row.p99_us),
            us(row.max_us),
            opt(row.cpu_p99_us),
            opt(row.hold_p50_us),
            opt(row.hold_p99_us),
            row.vs_floor.map(|v| format!("{v:.2}")).unwrap_or_default(),
            row.busy,
            row.refused,
            row.errors,
        ));
    }
    s.push_str(&format!(
        "\n{} cores; scale clinic of {} appointments / {} patients generated in {:.1} s; whole run {:.0} s{}.\n\n| target | measured | met |\n|---|---|---|\n",
        r.cores,
        r.scale_appointments,
        r.scale_patients,
        r.scale_generation_secs,
        r.total_secs,
        if r.quick { " (--quick: short runs, not the published figures)" } else { "" }
    ));
    for t in &r.targets {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            t.goal,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        ));
    }
    s
}

/// A temporary folder removed on drop (the library has no tempfile dependency).
pub(crate) struct TempDir {
    pub(crate) path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Makes a fresh temporary folder `frontdesk-<kind>-<pid>-<n>`, private to this
/// user (a passcode senders file in it must be changeable by nobody else).
pub(crate) fn temp_dir(kind: &str) -> Result<TempDir> {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "frontdesk-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&path)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", path.display())))?;
    Ok(TempDir { path })
}

/// The measuring tools' throwaway clinics keep their database and audit keys in a
/// throwaway folder (removed when the guard drops), never in the user's keyring or
/// key folder: sets `FRONTDESK_KEYS_DIR` for this process and the workers it
/// starts, unless the caller set it. Call before any thread starts.
pub fn throwaway_key_folder() -> Result<Option<impl Drop>> {
    if std::env::var_os(frontdesk::storage::audit_key::KEYS_DIR_ENV).is_some_and(|v| !v.is_empty())
    {
        return Ok(None);
    }
    let dir = temp_dir("keys")?;
    std::env::set_var(frontdesk::storage::audit_key::KEYS_DIR_ENV, &dir.path);
    Ok(Some(dir))
}

/// Shared for the worker module: a cheap error for a thread that lost its desk.
pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(operation: &str, busy: u64, errors: u64, baseline: bool) -> BenchRow {
        let mut r = Samples::default().row(operation, Duration::from_secs(1));
        (r.busy, r.errors, r.baseline) = (busy, errors, baseline);
        r
    }

    #[test]
    fn busy_or_errors_surface_and_fail_the_run_but_speed_and_the_baseline_s_busy_do_not() {
        let slow = BenchRow {
            p99_us: 10_000_000,
            ..row("book", 0, 0, false)
        };
        assert!(surfaced(&[slow, row("baseline", 9, 0, true)]).is_empty());
        assert_eq!(
            surfaced(&[row("book", 1, 0, false)]),
            ["book: 1 Busy"],
            "a Busy that reached a desk"
        );
        assert_eq!(
            surfaced(&[row("status", 0, 2, false), row("baseline", 3, 1, true)]),
            ["status: 2 errors", "baseline: 1 errors"],
            "errors count everywhere, the baseline's too"
        );
    }
}
