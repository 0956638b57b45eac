//! Booking beside long jobs: what a desk waits while an admin generates a year of
//! slots for 20 doctors, and while passcodes are delivered with a long read
//! transaction open (a backup or a long export holding an old snapshot).
//!
//! Each run books distinct hand-made slots from two desk threads for as long as
//! the job runs; the rows report the bookings' latency as the caller sees it. The
//! job's own figures get a row of their own (the generation's lock holds come from
//! its desk's metrics).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use super::setup::BenchClinic;
use super::{internal, with_hold, BenchRow, Samples};
use frontdesk::error::Result;
use frontdesk::{Actor, BookRequest, Frontdesk, NewTemplate, Role, SlotMode, TimeRange};

/// The bookings' row beside slot generation starts so.
pub(crate) const BESIDE_GENERATION: &str = "book, 2 threads, beside slot generation";
/// The bookings' row beside passcode delivery starts so.
pub(crate) const BESIDE_DELIVERY: &str = "book, 2 threads, beside passcode delivery";

/// Desk threads booking beside the job.
const DESKS: usize = 2;
/// Doctors whose year is generated.
const DOCTORS: usize = 20;

/// Books distinct slots of `clinic` from [`DESKS`] threads until `stop` is set
/// (and at least until one booking each finished), while `job` runs on this thread.
/// Returns the bookings' samples, the job's result and how long the bookings ran.
fn book_beside<T>(
    clinic: &BenchClinic,
    desk: &Frontdesk,
    job: impl FnOnce() -> T,
) -> (Samples, T, Duration) {
    let actor = Actor::local_admin();
    let stop = AtomicBool::new(false);
    let all = Mutex::new(Samples::default());
    let t = Instant::now();
    let out = std::thread::scope(|sc| {
        for th in 0..DESKS {
            let (actor, all, stop) = (&actor, &all, &stop);
            sc.spawn(move || {
                let mut s = Samples::default();
                let mut i = th;
                while !stop.load(Ordering::Relaxed) || s.lat.is_empty() {
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
                    i += DESKS;
                }
                all.lock().unwrap_or_else(|p| p.into_inner()).merge(s);
            });
        }
        // the desks are booking before the job starts
        std::thread::sleep(Duration::from_millis(50));
        let out = job();
        stop.store(true, Ordering::Relaxed);
        out
    });
    let s = all.into_inner().unwrap_or_else(|p| p.into_inner());
    (s, out, t.elapsed())
}

/// The clinic both runs book in (hand-made slots of ten other doctors).
pub(crate) fn clinic(dir: &Path, quick: bool) -> Result<BenchClinic> {
    BenchClinic::create(
        &dir.join("long-jobs.sqlite3"),
        if quick { 5_000 } else { 50_000 },
    )
}

/// Booking while a year (quick: two weeks) of slots for 20 doctors is generated:
/// the bookings' row and the generation's row.
pub(crate) fn during_generation(clinic: &BenchClinic, quick: bool) -> Result<Vec<BenchRow>> {
    let admin = Actor::local_admin();
    let setup = clinic.open()?;
    for i in 0..DOCTORS {
        let d = setup.add_doctor(&admin, &format!("Dr. Year {i}"), "General practice")?;
        for weekday in 1..=5 {
            setup.add_template(
                &admin,
                &NewTemplate {
                    doctor_id: d.id,
                    weekday,
                    start: "08:00".into(),
                    end: "17:00".into(),
                    slot_minutes: 30,
                    mode: SlotMode::InPerson,
                    breaks: vec![TimeRange {
                        start: "12:00".into(),
                        end: "13:00".into(),
                    }],
                },
            )?;
        }
    }
    drop(setup);
    let (days, span) = if quick {
        (14, "two weeks")
    } else {
        (365, "a year")
    };
    let from: NaiveDate = clinic.first_day;
    let to = from + chrono::Duration::days(days - 1);
    let desk = clinic.open()?;
    let generator = clinic.open()?;
    let (bookings, generated, elapsed) = book_beside(clinic, &desk, || {
        let at = Instant::now();
        let r = generator.generate_slots(&admin, from, to, None, false);
        (r, at.elapsed())
    });
    let (report, took) = generated;
    let report = report?;
    let mut rows = vec![with_hold(
        bookings.row(
            &format!("{BESIDE_GENERATION} ({span} for {DOCTORS} doctors)"),
            elapsed,
        ),
        &desk,
        "book",
    )];
    let mut gen = Samples::default();
    gen.lat.push(took.as_micros() as u64);
    let mut row = with_hold(
        gen.row(
            &format!(
                "slot generation, {span} for {DOCTORS} doctors ({} slots; one call, ops/s = slots/s)",
                report.created.len()
            ),
            took,
        ),
        &generator,
        "slots.generate",
    );
    row.ops = report.created.len() as u64;
    row.ops_per_sec = report.created.len() as f64 / took.as_secs_f64().max(1e-9);
    rows.push(row);
    Ok(rows)
}

/// Booking while a read transaction stays open (as a backup or a long export
/// holds one) and passcodes are requested — each sent at once by the recording
/// sender and its text erased — one after another: the bookings' row and the
/// requests' row.
pub(crate) fn during_delivery(clinic: &BenchClinic, phase: Duration) -> Result<Vec<BenchRow>> {
    let desk = clinic.open()?;
    // the long reader: a read transaction on its own connection, on an old snapshot
    let reader = frontdesk::storage::db::open_keyed(clinic.path()).map_err(internal)?;
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM slot;")
        .map_err(internal)?;
    let mut deliveries = Samples::default();
    let (bookings, delivered, elapsed) = book_beside(clinic, &desk, || -> Result<()> {
        let t = Instant::now();
        let mut i = 0usize;
        while t.elapsed() < phase || i == 0 {
            // a desk may ask 30 times an hour: the requests come from many desks
            let asking = Actor::staff(1_000 + i as i64 / 25, "Bench desk", Role::Receptionist);
            let at = Instant::now();
            let r = desk.request_otp(&asking, &format!("+491518{i:07}"));
            deliveries.outcome(at, &r);
            r?;
            i += 1;
        }
        Ok(())
    });
    reader.execute_batch("COMMIT").map_err(internal)?;
    delivered?;
    Ok(vec![
        with_hold(
            bookings.row(
                &format!("{BESIDE_DELIVERY}, a read transaction open"),
                elapsed,
            ),
            &desk,
            "book",
        ),
        with_hold(
            deliveries.row(
                "passcode request, sent at once and erased, beside that read transaction",
                elapsed,
            ),
            &desk,
            "otp.outbox",
        ),
    ])
}
