//! The two raw-rusqlite references: the floor (the cheapest durable write) and the
//! booking done the naive way, with SQLite's busy handler as the only queue.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use super::setup::BenchClinic;
use super::{BenchRow, Samples};
use frontdesk::error::Result;
use frontdesk::storage::appointments::{self, NewAppointment};
use frontdesk::storage::{audit, slots};

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One-row `UPDATE` per `BEGIN IMMEDIATE … COMMIT` on a WAL file with the app's
/// pragmas (`synchronous=FULL`). Sampled in blocks interleaved with the booking
/// run, so both see the same disk (a shared disk's flush time drifts a lot).
pub(crate) struct Floor {
    conn: Connection,
}

impl Floor {
    /// A new file at `path`, encrypted like a clinic's (a fresh key that lives only
    /// in this process) when `encrypted`.
    pub(crate) fn open(path: &Path, encrypted: bool) -> Result<Floor> {
        let conn = Connection::open(path)?;
        if encrypted {
            frontdesk::storage::cipher::DbKey::generate().apply(&conn)?;
        }
        frontdesk::storage::db::configure_connection(&conn, Duration::from_secs(5))?;
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);",
        )?;
        Ok(Floor { conn })
    }

    /// `n` floor transactions; their latencies go to `into`.
    pub(crate) fn sample(&self, n: usize, into: &mut Samples) -> Result<()> {
        let mut update = self
            .conn
            .prepare_cached("UPDATE counter SET n = n + 1 WHERE id = 1")?;
        for _ in 0..n {
            let at = Instant::now();
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            update.execute([])?;
            self.conn.execute_batch("COMMIT")?;
            into.lat.push(at.elapsed().as_micros() as u64);
        }
        Ok(())
    }

    /// The floor's row from its samples (single-threaded: the rate is one over
    /// the mean latency).
    pub(crate) fn row(s: Samples, name: &str) -> BenchRow {
        let busy_time = Duration::from_micros(s.lat.iter().sum());
        let mut row = s.row(name, busy_time);
        // the whole call is the transaction
        row.hold_p50_us = Some(row.p50_us);
        row.hold_p99_us = Some(row.p99_us);
        row
    }
}

/// The booking transaction on a raw connection (the same store calls as
/// `Frontdesk::book`), committed or rolled back.
fn book_raw(
    conn: &mut Connection,
    slot_id: i64,
    patient_id: i64,
    now: i64,
    holds: &mut Vec<u64>,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let locked = Instant::now();
    let Some(slot) = slots::get(&frontdesk::storage::Conn::Lite(&tx), slot_id)? else {
        return Ok(false);
    };
    if slots::is_taken(&frontdesk::storage::Conn::Lite(&tx), slot.id)? {
        return Ok(false);
    }
    let label = "bench (busy handler only)";
    let new = NewAppointment {
        slot_id,
        doctor_id: slot.doctor_id,
        patient_id,
        reason: "",
        overbooked: false,
        actor: label,
        now,
    };
    let id = appointments::insert(&frontdesk::storage::Conn::Lite(&tx), &new)?;
    audit::record(
        &frontdesk::storage::Conn::Lite(&tx),
        now,
        label,
        "appointment.book",
        "appointment",
        Some(id),
        &format!("slot {slot_id}"),
    )?;
    tx.commit()?;
    holds.push(locked.elapsed().as_micros() as u64);
    Ok(true)
}

/// `threads` threads, each with its own connection and `busy_timeout = 5000`, no
/// FIFO gate and no lock file: SQLite's busy handler decides who goes next.
pub(crate) fn busy_handler_only(
    clinic: &BenchClinic,
    threads: usize,
    phase: Duration,
) -> Result<BenchRow> {
    let all = Mutex::new((Samples::default(), Vec::<u64>::new()));
    let now = chrono::Utc::now().timestamp();
    // the raw connections seal their audit rows with the clinic's key, as a desk does
    let desk = clinic.open()?;
    let desk = &desk;
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..threads {
            let all = &all;
            sc.spawn(move || {
                let mut s = Samples::default();
                let mut holds = Vec::new();
                if let Ok(mut conn) = frontdesk::storage::db::open_connection(
                    clinic.path(),
                    Duration::from_millis(5000),
                )
                .and_then(|c| desk.seal_connection(&c).map(|()| c))
                {
                    let mut i = th;
                    while t.elapsed() < phase {
                        let Ok(slot) = clinic.take_slot() else { break };
                        let at = Instant::now();
                        let r = book_raw(&mut conn, slot, clinic.patient(i), now, &mut holds);
                        s.lat.push(at.elapsed().as_micros() as u64);
                        match r {
                            Ok(true) => {}
                            Ok(false) => s.refused += 1,
                            Err(e) if frontdesk::error::is_busy(&e) => s.busy += 1,
                            Err(_) => s.errors += 1,
                        }
                        i += threads;
                    }
                } else {
                    s.errors += 1;
                }
                let mut g = all.lock().unwrap_or_else(|p| p.into_inner());
                g.0.merge(s);
                g.1.extend(holds);
            });
        }
    });
    let (s, mut holds) = all.into_inner().unwrap_or_else(|p| p.into_inner());
    holds.sort_unstable();
    let mut row = s.row(
        &format!("book, {threads} threads, distinct slots, SQLite busy handler only (baseline)"),
        t.elapsed(),
    );
    row.hold_p50_us = Some(percentile(&holds, 0.5));
    row.hold_p99_us = Some(percentile(&holds, 0.99));
    row.baseline = true;
    Ok(row)
}

/// The disk itself: `fdatasync` after a 4 KiB append, which every durable commit
/// pays at least once (`synchronous=FULL` syncs the WAL at each commit).
pub(crate) fn fdatasync(path: &Path, n: usize) -> Result<BenchRow> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(super::internal)?;
    let page = [0u8; 4096];
    let mut s = Samples::default();
    let t = Instant::now();
    for _ in 0..n {
        let at = Instant::now();
        f.write_all(&page).map_err(super::internal)?;
        f.sync_data().map_err(super::internal)?;
        s.lat.push(at.elapsed().as_micros() as u64);
    }
    Ok(s.row("disk: fdatasync of a 4 KiB append (no SQLite)", t.elapsed()))
}

/// The booking's work inside the lock *before* COMMIT: the same statements as
/// `Frontdesk::book`, timed inside the write path's closure, so the part of the
/// lock hold that is Frontdesk's own (not the disk's) shows.
pub(crate) fn booking_body(clinic: &BenchClinic, n: usize) -> Result<BenchRow> {
    use frontdesk::storage::{doctors, patients};
    let desk = clinic.open()?;
    let label = "bench (transaction body)";
    let mut body = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let slot_id = clinic.take_slot()?;
        let patient_id = clinic.patient(i);
        let now = desk.now();
        let took = desk.write("bench.book_body", |tx| {
            let started = Instant::now();
            let slot = slots::get(&frontdesk::storage::Conn::Lite(tx), slot_id)?
                .ok_or(frontdesk::Error::NotFound("slot"))?;
            doctors::get(&frontdesk::storage::Conn::Lite(tx), slot.doctor_id)?
                .ok_or(frontdesk::Error::NotFound("doctor"))?;
            patients::get(&frontdesk::storage::Conn::Lite(tx), patient_id)?
                .ok_or(frontdesk::Error::NotFound("patient"))?;
            if slots::is_taken(&frontdesk::storage::Conn::Lite(tx), slot.id)? {
                return Err(frontdesk::Error::SlotTaken);
            }
            let new = NewAppointment {
                slot_id,
                doctor_id: slot.doctor_id,
                patient_id,
                reason: "",
                overbooked: false,
                actor: label,
                now,
            };
            let id = appointments::insert(&frontdesk::storage::Conn::Lite(tx), &new)?;
            audit::record(
                &frontdesk::storage::Conn::Lite(tx),
                now,
                label,
                "appointment.book",
                "appointment",
                Some(id),
                &format!("slot {slot_id}"),
            )?;
            appointments::get(&frontdesk::storage::Conn::Lite(tx), id)?;
            Ok(started.elapsed())
        })?;
        body.push(took.as_micros() as u64);
    }
    let elapsed = t.elapsed();
    let s = Samples {
        lat: body,
        ..Samples::default()
    };
    let mut row = s.row(
        "book, transaction body only (lock held, before COMMIT)",
        elapsed,
    );
    // ops/s here is the whole call's rate; the latencies are the body's
    row.ops_per_sec = n as f64 / elapsed.as_secs_f64().max(1e-9);
    row.hold_p50_us = Some(row.p50_us);
    row.hold_p99_us = Some(row.p99_us);
    Ok(row)
}
