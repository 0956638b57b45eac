//! One stress worker process: threads doing a random mix of desk operations on
//! the stress area until the time is up (or the parent closes the worker's
//! stdin), journaling each on stdout. Operation `seq` of thread `t` acts under the
//! name [`journal::label`]`(worker, t, seq)`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use super::journal::{self, monotonic_nanos, Entry};
use frontdesk::error::{Error, Result};
use frontdesk::{AppointmentStatus, BookRequest, Frontdesk, OpenOptions};

/// What the parent tells a worker.
#[derive(Debug, Clone)]
pub struct StressWorkerArgs {
    /// The database file.
    pub db: PathBuf,
    /// This worker's number (names its operations).
    pub worker: u32,
    /// Threads.
    pub threads: usize,
    /// How long to run at most (the parent may stop it earlier by closing stdin).
    pub millis: u64,
    /// Slots to book.
    pub slots: Vec<i64>,
    /// Patients to book for.
    pub patients: Vec<i64>,
    /// Phones for passcodes.
    pub phones: Vec<String>,
    /// Include passcode request and verify.
    pub passcodes: bool,
}

/// A live appointment of the area, as a desk would see it in its list: id, the
/// version to change it on, and its slot.
fn pick_live(
    desk: &Frontdesk,
    slots: &[i64],
    status: Option<&str>,
) -> Result<Option<(i64, i64, i64)>> {
    // the area's slot ids are numbers, so listing them inline is safe; never touch
    // appointments outside the area (the command may run on a real clinic file)
    let area = slots
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // a harness read, not a desk operation: any live appointment of the area, at random
    desk.read(|c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT id, version, slot_id FROM appointment WHERE slot_id IN ({area})
               AND status IN ('PENDING', 'CONFIRMED') AND (?1 IS NULL OR status = ?1)
             ORDER BY random() LIMIT 1"
        ))?;
        let mut rows = stmt.query(rusqlite::params![status])?;
        Ok(match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?)),
            None => None,
        })
    })
}

/// Runs one worker (the hidden `frontdesk stress-worker` command); the journal
/// goes to stdout. Stops when `millis` have passed or stdin reaches its end.
pub fn run_worker(a: &StressWorkerArgs) -> Result<()> {
    if a.slots.is_empty() || a.patients.is_empty() {
        return Err(Error::invalid("a stress worker needs slots and patients"));
    }
    let desk = Frontdesk::open(&a.db, OpenOptions::default())?;
    let phase = Duration::from_millis(a.millis);
    let t = Instant::now();
    static STOP: AtomicBool = AtomicBool::new(false);
    // the parent closes our stdin to stop us (and dies with it closed)
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        STOP.store(true, Ordering::SeqCst);
    });
    std::thread::scope(|sc| {
        for thread in 0..a.threads as u32 {
            let desk = &desk;
            sc.spawn(move || {
                let mut rng = rand::rng();
                let mut seq = 0u64;
                while t.elapsed() < phase && !STOP.load(Ordering::SeqCst) {
                    if let Some(mut entry) = one_operation(desk, a, thread, seq, &mut rng) {
                        entry.worker = a.worker;
                        entry.thread = thread;
                        entry.seq = seq;
                        entry.print();
                        seq += 1;
                    }
                }
            });
        }
    });
    Ok(())
}

/// Runs `f`, stamping its invocation and return on the entry it makes.
pub(super) fn timed(f: impl FnOnce() -> Entry) -> Entry {
    let invoked = monotonic_nanos();
    let mut entry = f();
    entry.invoked = invoked;
    entry.returned = monotonic_nanos();
    entry
}

/// One operation (number `seq` of this thread), or `None` when there was nothing
/// to do (no live appointment to change, no code to try).
pub(super) fn one_operation(
    desk: &Frontdesk,
    a: &StressWorkerArgs,
    thread: u32,
    seq: u64,
    rng: &mut impl Rng,
) -> Option<Entry> {
    let actor = &journal::actor(a.worker, thread, seq);
    let slot = a.slots[rng.random_range(0..a.slots.len())];
    let roll = rng.random_range(0..100);
    let roll = if a.passcodes || roll < 95 {
        roll
    } else {
        roll - 10
    };
    // a change of a live appointment the desk sees: the version it is made on, and
    // the slot it was in, go into the journal
    let change = |op: &str,
                  status: Option<&str>,
                  f: &dyn Fn(i64, i64) -> Result<frontdesk::domain::model::Appointment>|
     -> Option<Entry> {
        let (id, version, from_slot) = match pick_live(desk, &a.slots, status) {
            Ok(Some(seen)) => seen,
            Ok(None) => return None,
            Err(e) => return Some(timed(|| Entry::failed(op, &e))),
        };
        let mut entry = timed(|| match f(id, version) {
            Ok(ap) => Entry::appointment(op, &ap),
            Err(e) => Entry::failed(op, &e),
        });
        entry.appointment = Some(id);
        entry.based_on = Some(version);
        entry.from_slot = Some(from_slot);
        Some(entry)
    };
    match roll {
        0..=34 => {
            let req = BookRequest {
                slot_id: slot,
                patient_id: a.patients[rng.random_range(0..a.patients.len())],
                reason: "stress".into(),
            };
            let mut entry = timed(|| match desk.book(actor, &req) {
                Ok(ap) => Entry::appointment("book", &ap),
                Err(e) => Entry::failed("book", &e),
            });
            entry.slot = entry.slot.or(Some(slot));
            Some(entry)
        }
        35..=54 => {
            let mut entry = change("reschedule", None, &|id, version| {
                desk.reschedule(actor, id, version, slot)
            })?;
            entry.slot = entry.slot.or(Some(slot));
            Some(entry)
        }
        55..=74 => change("cancel", None, &|id, version| {
            desk.change_status(actor, id, version, AppointmentStatus::Cancelled, "stress")
        }),
        75..=94 => change("confirm", Some("PENDING"), &|id, version| {
            desk.change_status(actor, id, version, AppointmentStatus::Confirmed, "")
        }),
        _ => super::passcodes::one(desk, actor, &a.phones, rng),
    }
}
